"""One Model used from several Python threads at once gives the answers it
gives from one thread (each call borrows a context of its own)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import bertc


def test_concurrent_encode(minilm: bertc.Model) -> None:
    texts = [f"sentence number {i} about {'cats ' * (i % 7)}and dogs" for i in range(48)]
    want = minilm.encode(texts, batch_size=8)
    chunks = [texts[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda c: minilm.encode(c, batch_size=8), chunks * 2))
    for k, c in enumerate(chunks * 2):
        idx = [texts.index(t) for t in c]
        assert np.array_equal(got[k], want[idx])  # deterministic: equal bits
