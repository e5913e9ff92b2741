"""The ctypes structures equal the C headers': sizes and every field's offset,
printed by a C program compiled against include/bertc/."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess

import pytest

from bertc import _native as N

from conftest import SCRATCH, SOURCE


def test_structures_match_headers() -> None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to read the headers' layouts with")
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "bertc/compiler.h"',
             "int main(void) {"]
    for cname, cls in N.STRUCTS.items():
        lines.append(f'  printf("%s size %zu\\n", "{cname}", sizeof({cname}));')
        for field, *_ in cls._fields_:
            lines.append(f'  printf("%s %s %zu\\n", "{cname}", "{field}", '
                         f"offsetof({cname}, {field}));")
    lines += ["  return 0;", "}"]
    SCRATCH.mkdir(parents=True, exist_ok=True)
    src, exe = SCRATCH / "layouts.c", SCRATCH / "layouts"
    src.write_text("\n".join(lines) + "\n")
    subprocess.run([cc, "-std=c11", "-I", str(SOURCE / "include"), str(src), "-o", str(exe)],
                   check=True)
    got = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    want = []
    for cname, cls in N.STRUCTS.items():
        want.append(f"{cname} size {ctypes.sizeof(cls)}")
        for field, *_ in cls._fields_:
            want.append(f"{cname} {field} {getattr(cls, field).offset}")
    assert got.split("\n")[:-1] == want
