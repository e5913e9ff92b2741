"""Model.encode against sentence-transformers' encode of all-MiniLM-L6-v2
(tests/fixtures/pipelines/minilm.embedding.jsonl, made by
scripts/make_pipeline_fixtures.py), and Model.run / tokenize against
transformers (tests/fixtures/tiny/bert/reference.json)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bertc

from conftest import TINY, Compiled, read_jsonl, tiny

# float32 rounding of a different summation order; the C tests use the same bound.
TOL = 1e-4


def test_encode_equals_sentence_transformers(minilm: bertc.Model) -> None:
    lines = read_jsonl("minilm.embedding")
    texts = [x["text"] for x in lines]
    want = np.array([x["expected"]["embedding"] for x in lines], dtype=np.float32)
    got = minilm.encode(texts)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.abs(got - want).max() <= TOL


def test_encode_order_batch_and_shapes(minilm: bertc.Model) -> None:
    texts = ["short", "a much longer sentence with quite a few more words in it " * 3,
             "medium length text here", "x"]
    base = minilm.encode(texts, batch_size=1)
    for bs in (2, 3, 64):
        assert np.abs(minilm.encode(texts, batch_size=bs) - base).max() <= TOL
    one = minilm.encode(texts[1])
    assert one.shape == (384,) and np.abs(one - base[1]).max() <= TOL
    rows = minilm.encode(texts, convert_to_numpy=False)
    assert isinstance(rows, list) and len(rows) == 4
    assert minilm.encode([]).shape == (0, 384)


def test_encode_normalize(minilm: bertc.Model) -> None:
    e = minilm.encode(["The cat sits outside", "A man is playing guitar"],
                      normalize_embeddings=True)
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


def test_encode_refusals(minilm: bertc.Model) -> None:
    with pytest.raises(bertc.NotFoundError, match="no output 'last_hidden_state'"):
        minilm.encode(["x"], output_value="token_embeddings")
    with pytest.raises(bertc.InvalidArgumentError, match="batch_size"):
        minilm.encode(["x"], batch_size=0)
    with pytest.raises(bertc.InvalidArgumentError, match="precision"):
        minilm.encode(["x"], precision="int8")
    with pytest.raises(bertc.InvalidArgumentError, match=r"sentences\[1\]: expected a string"):
        minilm.encode(["x", 3])  # type: ignore[list-item]


def test_tokenize_like_hf(minilm: bertc.Model) -> None:
    t = minilm.tokenize(["Hello world!", "bertc"], return_offsets_mapping=True,
                        return_tokens=True)
    assert t["input_ids"].tolist() == [[101, 7592, 2088, 999, 102], [101, 14324, 2278, 102, 0]]
    assert t["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]
    assert t["offset_mapping"][0].tolist() == [[0, 0], [0, 5], [6, 11], [11, 12], [0, 0]]
    assert t["tokens"][0] == ["[CLS]", "hello", "world", "!", "[SEP]"]


def test_run_equals_transformers(compiled: Compiled) -> None:
    ref = json.loads((TINY / "bert" / "reference.json").read_text())
    ids = np.array(ref["inputs"]["input_ids"])
    with tiny(compiled, "bert") as m:
        out = m.run(ids, token_type_ids=ref["inputs"]["token_type_ids"],
                    attention_mask=ref["inputs"]["attention_mask"])
        assert m.info["task"] == "encoder"
    mask = np.array(ref["inputs"]["attention_mask"])[:, :, None]
    for name in ("last_hidden_state", "pooler_output"):
        want = np.array(ref["outputs"][name]["data"], np.float32).reshape(
            ref["outputs"][name]["shape"])
        got = out[name]
        assert got.shape == want.shape, name
        if ref["outputs"][name]["compare_mask"]:
            got, want = got * mask, want * mask
        assert np.abs(got - want).max() <= TOL, name


def test_info(minilm: bertc.Model) -> None:
    info = minilm.info
    assert info["task"] == "embedding" and info["hidden_size"] == 384
    assert {"batch": 8, "seq": 256} in info["buckets"]
    assert info["outputs"] == ["sentence_embedding"] and info["precision"] == "fp32"
    assert info["token_buckets"] == [256, 1024]  # the default: packed runs of many texts
    assert info["target_cpu"] in info["variants"]
    assert minilm.max_seq_length == 256
