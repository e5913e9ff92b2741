#!/usr/bin/env python3
"""Checks that bertc's folders depend on each other only downward.

Every `#include "..."` in a folder's C sources is an arrow from that folder's
layer to the layer of the included file (so is an `#include <...>` of a file in
the tree), and every library a folder's CMakeLists.txt names in
`target_link_libraries` is one too. An arrow is allowed when the table LAYERS
says the source layer may use the target layer (a layer may always use
itself); any other arrow goes up or sideways and is reported as

    path:line: #include "x/y.h": <layer> may not use <layer>

with exit status 1. `--list` prints the table of arrows (counts per pair of
layers, includes and links) as well.

An include resolves as the compiler resolves it: next to the including file
(quoted includes only), then at the repository root, then under include/ (the
two include directories every target has); one that does not resolve counts by
its first directory when that is a layer (a generated or missing header). The
public headers in include/bertc may be included by any layer but kernels/,
which may see bertc/abi.h only; they include nothing but each other. tests/,
fuzz/ and bench/ may use anything.

Standard library only; run from anywhere (`--root` checks another tree).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence


@dataclass(frozen=True)
class Layer:
    """What one folder may use besides itself."""

    may_include: frozenset[str]  # layers whose headers it may include
    may_link: frozenset[str]  # layers whose libraries it may link
    public: Optional[frozenset[str]] = None  # public headers it may see; None: all


def _layer(include: str, link: Optional[str] = None, public: Optional[str] = None) -> Layer:
    inc = frozenset(include.split())
    return Layer(inc, inc if link is None else frozenset(link.split()),
                 None if public is None else frozenset(public.split()))


ANYTHING = ("base kernels tokenizer ir frontend passes backend compiler runtime server tools"
            " include tests fuzz bench examples")
BELOW_COMPILER = "backend passes frontend ir kernels tokenizer base"

# The layer order: each folder and the folders it may use. `include` is
# include/bertc, the public headers, which every layer may include (kernels/
# only abi.h). The CLI and the examples are clients of the public API: they
# include only public headers and link the libraries behind them.
LAYERS: dict[str, Layer] = {
    "include": _layer(""),
    "base": _layer(""),
    "kernels": _layer("", public="bertc/abi.h"),
    "tokenizer": _layer("base"),
    "ir": _layer("base"),
    "frontend": _layer("ir tokenizer base"),
    "passes": _layer("ir kernels base"),
    "backend": _layer("passes frontend ir kernels tokenizer base"),
    "compiler": _layer(BELOW_COMPILER + " runtime"),
    "runtime": _layer("tokenizer base"),
    "server": _layer("", link="runtime"),
    "tools": _layer("server", link="compiler runtime server"),
    "examples": _layer("", link="compiler runtime"),
    "tests": _layer(ANYTHING),
    "fuzz": _layer(ANYTHING),
    "bench": _layer(ANYTHING),
}

# Libraries (CMake targets) and the layer that builds them.
LIBRARIES: dict[str, str] = {
    "bertc_base": "base",
    "bertc_kernels": "kernels",
    "bertc_tokenizer": "tokenizer",
    "bertc_ir": "ir",
    "bertc_frontend": "frontend",
    "bertc_passes": "passes",
    "bertc_backend": "backend",
    "bertc_compiler": "compiler",
    "bertc_runtime": "runtime",
    "bertc_runtime_shared": "runtime",
    "bertc_server": "server",
    "bertc::runtime": "runtime",
    "bertc": "tools",
    "bertc::bertc": "tools",
}

SOURCE_SUFFIXES = {".c", ".h", ".def", ".inc", ".cc", ".cpp"}
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*("([^"]+)"|<([^>]+)>)')
LINK_RE = re.compile(r"target_link_libraries\s*\(([^)]*)\)", re.S)


@dataclass(frozen=True)
class Arrow:
    """One use of a layer by another: an include or a linked library."""

    path: str  # relative to the root
    line: int
    source: str  # the using layer
    target: str  # the used layer
    what: str  # '#include "x.h"' or 'links bertc_x'
    kind: str  # "include" or "link"
    public: Optional[str] = None  # "bertc/abi.h" when the target is a public header


def layer_of(rel: Path) -> Optional[str]:
    """The layer of a path relative to the root (include/bertc/* is `include`)."""
    top = rel.parts[0] if rel.parts else ""
    return top if top in LAYERS else None


def resolve(root: Path, src: Path, name: str, quoted: bool) -> Optional[Path]:
    """The file an include of `name` in root/src names, relative to root, or None."""
    bases = ([root / src.parent] if quoted else []) + [root, root / "include"]
    for base in bases:
        candidate = base / name
        if candidate.is_file():
            try:
                return candidate.resolve().relative_to(root.resolve())
            except ValueError:
                return None  # outside the tree
    return None


def include_target(root: Path, src: Path, name: str, quoted: bool) -> Optional[Path]:
    """What an include names, relative to root: the file, or for one that does
    not resolve a path under the layer its first directory names; None for
    anything else (system and third-party headers)."""
    found = resolve(root, src, name, quoted)
    if found is not None:
        return found
    first = Path(name).parts[0]
    if first == "bertc":
        return Path("include") / name
    return Path(name) if first in LAYERS and first != "include" else None


def layer_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(layer, path relative to root) of every file in the layer folders, in a
    stable order."""
    for layer in sorted(LAYERS):
        if (root / layer).is_dir():
            for p in sorted((root / layer).rglob("*")):
                if p.is_file():
                    yield layer, p.relative_to(root)


def include_arrows(root: Path) -> Iterator[Arrow]:
    for layer, src in layer_files(root):
        if src.suffix not in SOURCE_SUFFIXES:
            continue
        text = (root / src).read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            m = INCLUDE_RE.match(line)
            if not m:
                continue
            quoted = m.group(2) is not None
            name = m.group(2) if quoted else m.group(3)
            found = include_target(root, src, name, quoted)
            target = layer_of(found) if found is not None else None
            if found is None or target is None:
                continue
            public = "/".join(found.parts[1:]) if target == "include" else None
            yield Arrow(str(src), number, layer, target, f"#include {m.group(1)}", "include",
                        public)


def link_arrows(root: Path) -> Iterator[Arrow]:
    for layer, rel in layer_files(root):
        if rel.name != "CMakeLists.txt":
            continue
        # Comments out, line numbers kept.
        text = re.sub(r"#[^\n]*", "", (root / rel).read_text(encoding="utf-8", errors="replace"))
        for m in LINK_RE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            for item in m.group(1).split()[1:]:  # the first is the target being linked
                target = LIBRARIES.get(item)
                if target is not None:
                    yield Arrow(str(rel), line, layer, target, f"links {item}", "link")


def allowed(arrow: Arrow) -> bool:
    """Whether the layer order allows the arrow."""
    if arrow.source == arrow.target:
        return True
    rules = LAYERS[arrow.source]
    if arrow.kind == "link":
        return arrow.target in rules.may_link
    if arrow.target == "include":
        return rules.public is None or arrow.public in rules.public
    return arrow.target in rules.may_include


def violations(arrows: Iterable[Arrow]) -> list[Arrow]:
    return [a for a in arrows if not allowed(a)]


def shown(layer: str) -> str:
    return "include/bertc" if layer == "include" else layer


def describe(a: Arrow) -> str:
    """The report line of an arrow against the order."""
    if a.target == "include" and LAYERS[a.source].public is not None:
        only = ", ".join(sorted(LAYERS[a.source].public or ()))
        why = f"{shown(a.source)} may use only {only} of include/bertc"
    else:
        why = f"{shown(a.source)} may not use {shown(a.target)}"
    return f"{a.path}:{a.line}: {a.what}: {why}"


def table(arrows: Sequence[Arrow], bad: Sequence[Arrow]) -> str:
    counts = Counter((a.source, a.target, a.kind) for a in arrows)
    wrong = Counter((a.source, a.target, a.kind) for a in bad)
    rows = [("from", "to", "includes", "links", "")]
    for src, dst in sorted({(s, t) for s, t, _ in counts}):
        inc, link = counts[(src, dst, "include")], counts[(src, dst, "link")]
        nbad = wrong[(src, dst, "include")] + wrong[(src, dst, "link")]
        rows.append((shown(src), shown(dst), str(inc or ""),
                     str(link or ""), f"{nbad} not allowed" if nbad else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}"
        f"  {r[4]}".rstrip() for r in rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the tree to check (default: this repository)")
    parser.add_argument("--list", action="store_true",
                        help="print the table of arrows between layers")
    args = parser.parse_args(argv)
    root: Path = args.root
    arrows = list(include_arrows(root)) + list(link_arrows(root))
    bad = violations(arrows)
    if args.list:
        print(table(arrows, bad))
    for a in bad:
        print(describe(a))
    if bad:
        print(f"check-layers: {len(bad)} of {len(arrows)} arrows go against the layer order",
              file=sys.stderr)
        return 1
    if not args.list:
        print(f"check-layers: {len(arrows)} arrows, all downward")
    return 0


if __name__ == "__main__":
    sys.exit(main())
