"""Model(...) answers equal the HuggingFace pipelines' on the repository's
fixture models (tests/fixtures/pipelines/*.jsonl, made with transformers by
scripts/make_pipeline_fixtures.py), and predict / rerank equal the logits of a
sequence-classification model on pairs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import bertc

from conftest import Compiled, read_jsonl, tiny

TOL = 1e-4


def close(want: Any, got: Any) -> bool:
    if isinstance(want, dict):
        return isinstance(got, dict) and want.keys() == got.keys() and all(
            close(want[k], got[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(want) == len(got) and all(
            close(a, b) for a, b in zip(want, got))
    if isinstance(want, float) or isinstance(got, float):
        return abs(float(want) - float(got)) <= TOL
    return bool(want == got)


def test_fill_mask(compiled: Compiled) -> None:
    lines = read_jsonl("bert_mlm.fill-mask")
    with tiny(compiled, "bert_mlm") as m:
        got = m([x["text"] for x in lines])
        single = m(lines[0]["text"])
    for x, g in zip(lines, got):
        want = x["expected"]["mask"]
        want = [[_fill(c) for c in w] for w in want] if want and isinstance(want[0], list) \
            else [_fill(c) for c in want]
        assert close(want, g), x["text"]
    assert close(got[0], single)


def _fill(c: dict[str, Any]) -> dict[str, Any]:
    return {"score": c["score"], "token": c["token"], "token_str": c["token_str"],
            "sequence": c["sequence"]}


def test_text_classification(compiled: Compiled) -> None:
    lines = read_jsonl("bert_seqcls.text-classification")
    inputs = [{"text": x["text"], "text_pair": x["text_pair"]} if "text_pair" in x
              else x["text"] for x in lines]
    with tiny(compiled, "bert_seqcls") as m:
        best = m(inputs)
        every = m(inputs, top_k=10)
        one = m(lines[0]["text"])
    for x, b, e in zip(lines, best, every):
        scores = x["expected"]["scores"]
        assert close(scores[0], b) and close(scores, e), x["text"]
    assert isinstance(one, list) and len(one) == 1  # the pipeline's shape for one text


@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
def test_token_classification(compiled: Compiled, strategy: str) -> None:
    lines = read_jsonl(f"bert_tokcls.token-classification.{strategy}")
    with tiny(compiled, "bert_tokcls") as m:
        got = m([x["text"] for x in lines], aggregation_strategy=strategy)
    for x, g in zip(lines, got):
        assert close(x["expected"]["entities"], g), x["text"]


def test_question_answering(compiled: Compiled) -> None:
    lines = read_jsonl("bert_qa.question-answering")
    with tiny(compiled, "bert_qa") as m:
        got = m([{"question": x["question"], "context": x["context"]} for x in lines])
    for x, g in zip(lines, got):
        assert close(x["expected"], g), x["question"]


def test_predict_and_rerank_equal_logits(compiled: Compiled) -> None:
    lines = [x for x in read_jsonl("bert_regression.text-classification") if "text_pair" in x]
    assert lines
    pairs = [(x["text"], x["text_pair"]) for x in lines]
    logits = np.array([x["expected"]["score"] for x in lines], np.float32)
    with tiny(compiled, "bert_regression") as m:
        raw = m.predict(pairs, activation=None)
        assert np.abs(raw - logits).max() <= TOL
        scores = m.predict(pairs, batch_size=1)
        assert np.abs(scores - 1 / (1 + np.exp(-logits))).max() <= TOL
        q = lines[0]["text"]
        docs = [x["text_pair"] for x in lines]
        ranked = m.rerank(q, docs, return_documents=True)
        direct = m.predict([(q, d) for d in docs])
    assert [r["corpus_id"] for r in ranked] == sorted(range(len(docs)),
                                                       key=lambda i: (-direct[i], i))
    assert all(r["text"] == docs[r["corpus_id"]] for r in ranked)
    assert close([float(direct[r["corpus_id"]]) for r in ranked], [r["score"] for r in ranked])


def test_pipeline_errors(compiled: Compiled) -> None:
    with tiny(compiled, "bert_mlm") as m:
        with pytest.raises(bertc.InvalidArgumentError, match="mask"):
            m("no mask token here")
        with pytest.raises(bertc.InvalidArgumentError, match="aggregation_strategy"):
            m("[MASK]", aggregation_strategy="bogus")
        with pytest.raises(bertc.InvalidArgumentError, match="predict and rerank"):
            m.rerank("q", ["d"])
        with pytest.raises(bertc.InvalidArgumentError, match="top_k"):
            m("[MASK]", top_k=0)
