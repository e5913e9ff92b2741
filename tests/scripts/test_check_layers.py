"""scripts/check-layers.py on small synthetic trees: the arrows it allows,
the ones it reports (file:line, the include, which layer may not use which),
CMake links, and its exit status. Run: python3 -m pytest tests/scripts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check-layers.py"


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def check(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(root), *args],
                          capture_output=True, text=True, check=False)


# A tree whose every arrow goes down the order.
GOOD = {
    "include/bertc/status.h": '#include <stdint.h>\n',
    "include/bertc/abi.h": '#include "bertc/status.h"\n',
    "base/base.h": '#include "bertc/status.h"\n',
    "base/base.c": '#include "base/base.h"\n#include <stdio.h>\n',
    "base/CMakeLists.txt": "target_link_libraries(bertc_base PUBLIC m)\n",
    "kernels/gemm.c": '#include "kernels/kernels.h"\n#include "bertc/abi.h"\n',
    "kernels/kernels.h": "",
    "ir/ir.h": '#include "base/base.h"\n',
    "ir/graph.c": '#include "ir/ir.h"\n#include "ops.def"\n',
    "ir/ops.def": "",
    "ir/CMakeLists.txt": "target_link_libraries(bertc_ir PUBLIC bertc_base m)\n",
    "frontend/import.c": '#include "ir/ir.h"\n#include "internal.h"\n',
    "frontend/internal.h": "",
    "frontend/CMakeLists.txt": ("target_link_libraries(bertc_frontend PUBLIC bertc_ir\n"
                                "                      bertc_base PkgConfig::JANSSON)\n"),
    "runtime/model.c": '#include "base/base.h"\n#include <bertc/status.h>\n',
    "tools/main.c": '#include "bertc/status.h"\n#include "cli.h"\n',
    "tools/cli.h": "",
    "tools/CMakeLists.txt": "target_link_libraries(bertc PRIVATE bertc_compiler bertc_runtime)\n",
    "tests/ir/test_graph.c": '#include "frontend/internal.h"\n#include "tools/cli.h"\n',
}


def test_a_tree_with_downward_arrows_passes(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    r = check(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all downward" in r.stdout


def test_upward_and_sideways_includes_fail_one_line_each(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    write_tree(tmp_path, {
        "ir/verify.c": '#include "ir/ir.h"\n#include "frontend/internal.h"\n',
        "runtime/context.c": '#include "ir/ir.h"\n',
        "tools/cmd_run.c": '#include "bertc/status.h"\n\n#include "base/base.h"\n',
        "kernels/attention.c": '#include "bertc/status.h"\n',
        "include/bertc/bertc.h": '#include "base/base.h"\n',
        "examples/demo/demo.c": '#include <runtime/model.c>\n',
    })
    r = check(tmp_path)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines == [
        'examples/demo/demo.c:1: #include <runtime/model.c>: examples may not use runtime',
        'include/bertc/bertc.h:1: #include "base/base.h": include/bertc may not use base',
        'ir/verify.c:2: #include "frontend/internal.h": ir may not use frontend',
        'kernels/attention.c:1: #include "bertc/status.h": kernels may use only bertc/abi.h'
        ' of include/bertc',
        'runtime/context.c:1: #include "ir/ir.h": runtime may not use ir',
        'tools/cmd_run.c:3: #include "base/base.h": tools may not use base',
    ]


def test_a_missing_header_counts_by_its_folder(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    write_tree(tmp_path, {"passes/dce.c": '#include "backend/not_written_yet.h"\n'})
    r = check(tmp_path)
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        'passes/dce.c:1: #include "backend/not_written_yet.h": passes may not use backend']


def test_links_to_a_higher_layer_fail(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    write_tree(tmp_path, {
        "runtime/CMakeLists.txt": ("# target_link_libraries(bertc_runtime bertc_backend)\n"
                                   "target_link_libraries(bertc_runtime PUBLIC bertc_base\n"
                                   "                      bertc_ir m)\n"),
    })
    r = check(tmp_path)
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        "runtime/CMakeLists.txt:2: links bertc_ir: runtime may not use ir"]


def test_list_prints_the_arrows_between_layers(tmp_path: Path) -> None:
    write_tree(tmp_path, GOOD)
    r = check(tmp_path, "--list")
    assert r.returncode == 0
    rows = [line.split() for line in r.stdout.splitlines()]
    assert rows[0] == ["from", "to", "includes", "links"]
    assert ["frontend", "ir", "1", "1"] in rows
    assert ["tools", "compiler", "1"] in rows
    assert ["include/bertc", "include/bertc", "1"] in rows
