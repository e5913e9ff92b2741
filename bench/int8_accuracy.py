#!/usr/bin/env python3
"""Sentence-embedding agreement of compiled models with the fp32 HuggingFace reference.

    bench/int8_accuracy.py MODEL_DIR SO [SO ...] [--texts FILE.jsonl] [--limit N]

Runs sentence-transformers (fp32, the reference) on the texts and each compiled
.so through `bertc run` (BERTC_EXE, else bertc on PATH), and prints per .so the
mean and minimum cosine of its embeddings to the reference and the texts whose
cosine is lowest. Texts: the "text" of each JSON line of FILE.jsonl (default:
tests/fixtures/tokenizer/corpus.jsonl, 2,595 varied texts: sentences in 20+
languages and scripts, punctuation, casing, numbers, code, whitespace and
edge cases), blank ones skipped.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("so", nargs="+")
    ap.add_argument("--texts", default=os.path.join(HERE, "..", "tests", "fixtures", "tokenizer",
                                                     "corpus.jsonl"))
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", help="an .npy file keeping the reference embeddings between runs")
    args = ap.parse_args()
    texts = []
    with open(args.texts, encoding="utf-8") as f:
        for line in f:
            t = json.loads(line).get("text", "")
            if t.strip():
                texts.append(t)
    if args.limit:
        texts = texts[:args.limit]
    if args.cache and os.path.exists(args.cache):
        ref = np.load(args.cache)
    else:
        from sentence_transformers import SentenceTransformer
        ref = SentenceTransformer(args.model_dir, device="cpu").encode(texts, batch_size=32)
        if args.cache:
            np.save(args.cache, ref)
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    exe = os.environ.get("BERTC_EXE", "bertc")
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")
        path = f.name
    print(f"{len(texts)} texts from {os.path.relpath(args.texts)}; reference: "
          f"sentence-transformers fp32")
    for so in args.so:
        out = subprocess.run([exe, "run", so, "--input", path, "--threads", str(args.threads)],
                             capture_output=True, text=True, check=True).stdout
        emb = np.array([json.loads(l)["embedding"] for l in out.splitlines() if l.strip()],
                       dtype=np.float64)
        emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        cos = (emb * ref).sum(axis=1)
        worst = np.argsort(cos)[:3]
        print(f"{os.path.basename(so)}: mean cosine {cos.mean():.5f}, min {cos.min():.5f}, "
              f"< 0.99: {(cos < 0.99).sum()}; lowest: " +
              "; ".join(f"{cos[i]:.4f} {texts[i][:40]!r}" for i in worst))
    os.unlink(path)


if __name__ == "__main__":
    sys.exit(main())
