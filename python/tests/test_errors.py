"""Every error path raises a bertc.Error subclass with the runtime's message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bertc

from conftest import Compiled, minilm_dir, tiny


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(bertc.Error, match="nope.so"):
        bertc.Model(tmp_path / "nope.so")
    junk = tmp_path / "junk.so"
    junk.write_bytes(b"not an ELF file")
    with pytest.raises(bertc.Error, match="junk.so"):
        bertc.Model(junk)
    with pytest.raises(bertc.InvalidArgumentError, match="threads"):
        bertc.Model(junk, threads=-1)


def test_run_errors(compiled: Compiled) -> None:
    with tiny(compiled, "bert") as m:
        with pytest.raises(bertc.InvalidArgumentError, match="out of range|outside"):
            m.run([[2, 999999, 3]])
        with pytest.raises(bertc.InvalidArgumentError, match="no sequences"):
            m.run([])
        with pytest.raises(bertc.InvalidArgumentError, match="token_type_ids"):
            m.run([[2, 3]], token_type_ids=[[0, 0, 0]])
        with pytest.raises(bertc.InvalidArgumentError, match="attention_mask"):
            m.run(np.zeros((2, 4), np.int32), attention_mask=np.ones((2, 3)))
        with pytest.raises(bertc.Error):
            m.run([list(range(1, 400))])  # longer than every bucket
    with pytest.raises(bertc.Error, match="closed"):
        m.encode(["after close"])


def test_compile_errors(tmp_path: Path) -> None:
    with pytest.raises(bertc.Error, match="no-such-model"):
        bertc.compile(tmp_path / "no-such-model", tmp_path / "x.so", progress=False)
    assert not (tmp_path / "x.so").exists()
    with pytest.raises(bertc.InvalidArgumentError, match="seq"):
        bertc.compile(minilm_dir(), tmp_path / "x.so", seq_lens=[0], progress=False)
    with pytest.raises(bertc.InvalidArgumentError, match="task"):
        bertc.compile(minilm_dir(), tmp_path / "x.so", task="translation", progress=False)
    with pytest.raises(bertc.InvalidArgumentError, match="precision"):
        bertc.compile(minilm_dir(), tmp_path / "x.so", precision="fp4", progress=False)
    assert not (tmp_path / "x.so").exists()


def test_compile_progress(tmp_path: Path) -> None:
    phases: list[str] = []
    out = bertc.compile(minilm_dir(),
                        tmp_path / "m.so", seq_lens=[16], progress=lambda p, s: phases.append(p))
    assert Path(out).exists()
    assert phases[0] == "import" and phases[-1] == "total"
    with bertc.Model(out) as m:
        assert m.info["buckets"] == [{"batch": 1, "seq": 16}]


def test_compile_int8(tmp_path: Path) -> None:
    """precision="int8": the compile's agreement probe passes on MiniLM, the model
    says so, and its embeddings stay close to fp32's (the probe's own threshold)."""
    out = bertc.compile(minilm_dir(), tmp_path / "q.so", seq_lens=[32], precision="int8",
                        progress=False)
    texts = ["A man is eating food.", "The weather is lovely today.", "int8 embeddings"]
    with bertc.Model(out) as q:
        assert q.info["precision"] == "int8"
        e8 = q.encode(texts)
    ref = bertc.compile(minilm_dir(), tmp_path / "f.so", seq_lens=[32], progress=False)
    with bertc.Model(ref) as f:
        e32 = f.encode(texts)
    cos = (e8 * e32).sum(1) / np.linalg.norm(e8, axis=1) / np.linalg.norm(e32, axis=1)
    assert cos.min() >= 0.99
