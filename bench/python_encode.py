#!/usr/bin/env python3
"""bertc's Python package against what Python users run, side by side on the
same texts and threads: all-MiniLM-L6-v2 sentence embeddings.

  python3 bench/python_encode.py [--threads 2] [--texts 2000] [--batch-size 32]
                                 [--rounds 3] [--cold-reps 15]

Engines (each timed on the whole text set, best of --rounds; every engine
includes its tokenizing):
  st     sentence-transformers SentenceTransformer(...).encode(batch_size=B), CPU,
         torch.set_num_threads(T)
  ort    ONNX Runtime from Python: the HuggingFace fast tokenizer, batches of B sorted
         by length and padded per batch, the ORT-optimized fp32 model of
         bench/prepare.py (intra_op_num_threads=T), mean pooling + normalization
         in numpy
  bertc  bertc.Model(so, threads=T).encode(batch_size=B); the .so is compiled
         with batch buckets 1, 8, 32 and the default sequence buckets
Texts: the docstrings of the Python standard library's modules, split into
sentences (every machine has them), sampled with a fixed seed.

It prints texts/s, the ratio to each peer, the mean and minimum cosine of each
engine's embeddings to sentence-transformers', and the first embedding in a fresh
process: `python -c "import bertc; bertc.Model(so).encode('...')"` minus
`python -c "pass"` (median of --cold-reps). Not a test: nothing asserts on time."""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import random
import re
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def stdlib_sentences(n: int, seed: int = 0) -> list[str]:
    import importlib

    out: list[str] = []
    warnings.simplefilter("ignore")
    for m in sorted(pkgutil.iter_modules(), key=lambda m: m.name):
        if m.name.startswith("_") or m.name in ("antigravity", "this", "idlelib", "tkinter",
                                                "turtle", "turtledemo"):
            continue
        try:
            mod = importlib.import_module(m.name)
        except BaseException:
            continue
        for obj in [mod] + [getattr(mod, a, None) for a in dir(mod)[:40]]:
            doc = getattr(obj, "__doc__", None)
            if not isinstance(doc, str):
                continue
            for s in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
                if 3 <= len(s.split()) <= 200:
                    out.append(s)
        if len(out) > 20 * n:
            break
    out = sorted(set(out))
    random.Random(seed).shuffle(out)
    return out[:n]


def minilm_dir() -> str:
    return subprocess.run([str(ROOT / "scripts" / "minilm-dir.sh")], capture_output=True,
                          text=True, check=True).stdout.strip()


def best_of(rounds: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def cosines(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    c = (a * b).sum(axis=1)
    return float(c.mean()), float(c.min())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--texts", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cold-reps", type=int, default=15)
    ap.add_argument("--cache", default=str(ROOT / "bench" / ".cache"))
    a = ap.parse_args()
    T, B = a.threads, a.batch_size
    os.environ["OMP_NUM_THREADS"] = str(T)
    texts = stdlib_sentences(a.texts)
    src = minilm_dir()
    cache = Path(a.cache) / "minilm"
    so = cache / "python-bench.so"
    import bertc

    if not so.exists():
        cache.mkdir(parents=True, exist_ok=True)
        bertc.compile(src, so, batch_sizes=[1, 8, 32], threads=T, progress=False)
    if not (cache / "model.ort.onnx").exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "prepare.py"), "--name", "minilm",
                        "--src", src, "--out", str(cache)], check=True,
                       stdout=subprocess.DEVNULL)

    import onnxruntime as ort
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    torch.set_num_threads(T)
    st = SentenceTransformer(src, device="cpu")
    tok = AutoTokenizer.from_pretrained(src)
    so_opts = ort.SessionOptions()
    so_opts.intra_op_num_threads = T
    so_opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(cache / "model.ort.onnx"), so_opts,
                                providers=["CPUExecutionProvider"])
    in_names = {i.name for i in sess.get_inputs()}

    def ort_encode() -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), 384), np.float32)
        for s in range(0, len(order), B):
            idx = order[s:s + B]
            enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=256,
                      return_tensors="np")
            feeds = {k: v.astype(np.int64) for k, v in enc.items() if k in in_names}
            h = sess.run(None, feeds)[0]
            m = enc["attention_mask"][:, :, None].astype(np.float32)
            e = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
            out[idx] = e / np.linalg.norm(e, axis=1, keepdims=True)
        return out

    model = bertc.Model(so, threads=T)
    engines: dict[str, Callable[[], np.ndarray]] = {
        "st": lambda: np.asarray(st.encode(texts, batch_size=B)),
        "ort": ort_encode,
        "bertc": lambda: model.encode(texts, batch_size=B),
    }
    for fn in engines.values():  # warm up
        fn()
    res: dict[str, dict[str, float]] = {}
    embs: dict[str, np.ndarray] = {}
    for name, fn in engines.items():
        sec, emb = best_of(a.rounds, fn)
        embs[name] = emb
        res[name] = {"seconds": sec, "texts_per_s": len(texts) / sec}
    for name in engines:
        res[name]["cos_mean"], res[name]["cos_min"] = cosines(embs[name], embs["st"])

    def cold(code: str) -> float:
        ts = []
        for _ in range(a.cold_reps):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    base = cold("pass")
    first = cold(f"import bertc; bertc.Model({str(so)!r}, threads={T}).encode('hello world')")
    tokens = sum(len(x) for x in tok(texts, truncation=True, max_length=256)["input_ids"])
    print(f"all-MiniLM-L6-v2, {len(texts)} stdlib docstring sentences ({tokens} tokens), "
          f"{T} threads, batch {B}, best of {a.rounds}")
    print(f"{'engine':8} {'texts/s':>9} {'x st':>6} {'x ort':>6} {'cos mean':>9} {'cos min':>9}")
    for name, r in res.items():
        print(f"{name:8} {r['texts_per_s']:9.1f} {r['texts_per_s'] / res['st']['texts_per_s']:6.2f}"
              f" {r['texts_per_s'] / res['ort']['texts_per_s']:6.2f} {r['cos_mean']:9.6f}"
              f" {r['cos_min']:9.6f}")
    print(f"first embedding in a fresh process: {1e3 * (first - base):.1f} ms on top of the "
          f"interpreter's {1e3 * base:.1f} ms (median of {a.cold_reps})")
    print(json.dumps({"threads": T, "texts": len(texts), "tokens": tokens, "engines": res,
                      "cold_first_embedding_ms": 1e3 * (first - base),
                      "cold_interpreter_ms": 1e3 * base}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
