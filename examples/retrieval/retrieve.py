#!/usr/bin/env python3
"""Semantic search with bertc from Python: embed a set of documents once, then
answer each query with the documents nearest to it by cosine similarity.

    python3 examples/retrieval/retrieve.py MODEL.so [--docs docs.txt] [--top-k 3] QUERY...

MODEL.so is an embedding model compiled by bertc (for example all-MiniLM-L6-v2:
`bertc compile <dir> -o minilm.so`). --docs names a file with one document per
line; without it a small built-in collection is searched."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import numpy as np
import numpy.typing as npt

import bertc

DOCS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "The Great Barrier Reef is the world's largest coral reef system.",
    "Python is a high-level programming language known for its readability.",
    "Mount Everest is Earth's highest mountain above sea level.",
    "The mitochondria is the powerhouse of the cell.",
    "Jazz originated in the African-American communities of New Orleans.",
    "A compiler translates source code into machine code.",
    "The Amazon rainforest produces a large share of the world's oxygen.",
    "Chess is a board game for two players played on a checkered board.",
]


class Index:
    """Documents and their unit-length embeddings."""

    def __init__(self, model: bertc.Model, docs: Sequence[str], batch_size: int = 32) -> None:
        self.model = model
        self.docs = list(docs)
        self.emb: npt.NDArray[np.float32] = model.encode(
            self.docs, batch_size=batch_size, normalize_embeddings=True)

    def search(self, query: str, top_k: int = 3) -> list[tuple[int, float]]:
        """The top_k documents for a query: (index, cosine), best first."""
        q = self.model.encode(query, normalize_embeddings=True)
        scores = self.emb @ q
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [(int(i), float(scores[i])) for i in order]


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("queries", nargs="+")
    ap.add_argument("--docs", help="one document per line (default: a built-in set)")
    ap.add_argument("--top-k", type=int, default=3)
    args = ap.parse_args(argv)
    docs = DOCS
    if args.docs:
        with open(args.docs, encoding="utf-8") as f:
            docs = [line.strip() for line in f if line.strip()]
    try:
        with bertc.Model(args.model) as model:
            index = Index(model, docs)
            for q in args.queries:
                print(q)
                for i, score in index.search(q, args.top_k):
                    print(f"  {score:.3f}  {docs[i]}")
    except bertc.Error as e:
        print(f"retrieve: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
