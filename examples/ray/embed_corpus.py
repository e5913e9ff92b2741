#!/usr/bin/env python3
"""Embed a text corpus with bertc on Ray Data and write the embeddings as Parquet.

    python3 examples/ray/embed_corpus.py MODEL.so CORPUS.txt OUT_DIR [--actors 2]
        [--threads 1] [--batch-size 64] [--address auto]

CORPUS.txt has one text per line. Each Ray actor loads one bertc.Model (the .so
is read from the same path on every node, or shipped with the job's runtime
environment: see README.md) and embeds the batches Ray Data hands it; the output
rows are {"id", "text", "embedding"} in corpus order. Without --address a local
Ray instance is started."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Optional, Sequence

import numpy as np


class Embedder:
    """A Ray Data callable class: one bertc.Model per actor, loaded once."""

    def __init__(self, model_path: str, threads: int, batch_size: int) -> None:
        import bertc

        self.model = bertc.Model(model_path, threads=threads)
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        texts = [str(t) for t in batch["text"]]
        emb = self.model.encode(texts, batch_size=self.batch_size)
        return {"id": batch["id"], "text": batch["text"], "embedding": list(emb)}


def embed_corpus(model_path: str, texts: Sequence[str], out_dir: str, actors: int = 2,
                 threads: int = 1, batch_size: int = 64,
                 address: Optional[str] = None) -> float:
    """Embeds `texts` on `actors` Ray actors into Parquet files under out_dir;
    returns the seconds the Ray job took (texts/s = len(texts) / seconds)."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"OMP_NUM_THREADS": str(threads)}})
    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)])
    t0 = time.perf_counter()
    out = ds.map_batches(Embedder, fn_constructor_args=(os.path.abspath(model_path), threads,
                                                        batch_size),
                         batch_size=256, compute=ray.data.ActorPoolStrategy(size=actors),
                         num_cpus=threads)
    out.write_parquet(out_dir)
    return time.perf_counter() - t0


def read_embeddings(out_dir: str) -> tuple[list[int], np.ndarray]:
    """The ids and embeddings written to out_dir, sorted by id."""
    import pyarrow.parquet as pq

    table = pq.read_table(out_dir)
    ids = table.column("id").to_pylist()
    emb = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
    order = np.argsort(ids)
    return [ids[i] for i in order], emb[order]


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("corpus")
    ap.add_argument("out_dir")
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads per actor")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--address", default=None, help="a running Ray cluster ('auto')")
    args = ap.parse_args(argv)
    with open(args.corpus, encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f if line.strip()]
    seconds = embed_corpus(args.model, texts, args.out_dir, args.actors, args.threads,
                           args.batch_size, args.address)
    print(f"{len(texts)} texts on {args.actors} actor(s): {seconds:.2f} s, "
          f"{len(texts) / seconds:.1f} texts/s -> {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
