"""The Python examples: retrieval (examples/retrieval/retrieve.py) and corpus
embedding on Ray Data (examples/ray/embed_corpus.py; skipped when Ray is not
installed — the CI stage that installs the package with its "ray" extra runs it)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import bertc

from conftest import SOURCE


def load(rel: str) -> ModuleType:
    path = SOURCE / "examples" / rel
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_retrieval(minilm: bertc.Model) -> None:
    r = load("retrieval/retrieve.py")
    index = r.Index(minilm, r.DOCS)
    best = index.search("Which tower stands in Paris?", top_k=3)
    assert best[0][0] == 0
    q = minilm.encode("Which tower stands in Paris?", normalize_embeddings=True)
    d = minilm.encode(r.DOCS, normalize_embeddings=True)
    assert abs(best[0][1] - float(d[0] @ q)) <= 1e-5
    assert [s for _, s in best] == sorted((s for _, s in best), reverse=True)
    out = subprocess.run([sys.executable, str(SOURCE / "examples/retrieval/retrieve.py"),
                          minilm.path, "What do plants do with light?", "--top-k", "1"],
                         capture_output=True, text=True, check=True).stdout
    assert "Photosynthesis" in out.splitlines()[1]


def test_ray_corpus(minilm: bertc.Model, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (pip install ./python[ray])")
    pytest.importorskip("pyarrow")
    import ray

    e = load("ray/embed_corpus.py")
    texts = [f"document {i}: " + " ".join(["alpha", "beta", "gamma", "delta"][: 1 + i % 4])
             * (1 + i % 5) for i in range(300)]
    try:
        seconds = e.embed_corpus(minilm.path, texts, str(tmp_path / "out"), actors=2,
                                 threads=1, batch_size=32)
        ids, emb = e.read_embeddings(str(tmp_path / "out"))
    finally:
        ray.shutdown()
    assert seconds > 0 and ids == list(range(len(texts)))
    want = minilm.encode(texts, batch_size=32)
    assert np.abs(emb - want).max() <= 1e-4
