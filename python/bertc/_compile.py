"""bertc.compile: a HuggingFace model directory (or model.json) to a model .so,
through the public compiler API (libbertc_compiler.so, which needs LLVM 19)."""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import byref, c_int, c_int64
from typing import Callable, Optional, Sequence, Union

from . import _native as N
from ._errors import CompilerUnavailableError, InvalidArgumentError
from ._model import check

_TASKS = {name: code for code, name in N.TASK_NAMES.items()}
_GEMM = {"bertc": 1, "amx": 2, "blas": 3}
_WEIGHTS = {"embed": 1, "external": 2}
_PRECISION = {"fp32": 1, "int8": 2}

Progress = Callable[[str, float], None]


def _print_progress(phase: str, seconds: float) -> None:
    print(f"bertc compile: {phase:<28} {seconds:8.3f} s", file=sys.stderr, flush=True)


def compile(model: Union[str, os.PathLike[str]], out: Union[str, os.PathLike[str]], *,
            seq_lens: Optional[Sequence[int]] = None,
            batch_sizes: Optional[Sequence[int]] = None,
            token_buckets: Optional[Sequence[int]] = None, precision: str = "fp32",
            task: Optional[str] = None, target_cpu: Optional[str] = None,
            target_features: Optional[str] = None, threads: int = 0, jobs: int = 0,
            gemm: Optional[str] = None, weights: Optional[str] = None,
            keep_fp32: Optional[Union[str, Sequence[str]]] = None,
            calibrate: Optional[Union[str, os.PathLike[str]]] = None,
            min_cosine: Optional[float] = None,
            progress: Union[bool, Progress] = True) -> str:
    """Compiles ``model`` (a HuggingFace model directory, a directory with a
    model.json, or a model.json) into the shared object ``out`` and returns its path.

    ``seq_lens`` / ``batch_sizes`` are the buckets (default: 16, 32, ... up to the
    model's maximum length, batch 1); ``token_buckets`` the total-token sizes of
    packed runs of many texts (default: the longest sequence bucket and four times
    it; ``[]`` for none); ``task`` overrides the model's ("embedding",
    "fill-mask", ...); ``target_cpu`` is an LLVM CPU name or "native" (default);
    ``threads`` the threads runs are planned for; ``jobs`` the code-generating
    threads. ``precision`` "int8" quantizes the linear layers and checks the
    result against fp32 on probe texts (``calibrate``: a JSON Lines file of
    {"text": ...}; default a built-in set), refusing it below ``min_cosine``
    (default 0.99); ``keep_fp32`` names weights whose layers stay fp32, or "auto".
    ``progress``: True prints each phase on stderr as `bertc compile`
    does, False is silent, a callable gets (phase, seconds). Raises bertc.Error
    with the compiler's message (naming the file at fault)."""
    if precision not in _PRECISION:
        raise InvalidArgumentError(f"precision {precision!r}: expected 'fp32' or 'int8'")
    try:
        lib = N.compiler()
    except OSError as e:
        raise CompilerUnavailableError(
            f"the bertc compiler library cannot be loaded ({e}); it needs LLVM 19 "
            "(Debian: llvm-19) on this machine") from None
    opts = N.CompileOptions()
    lib.bertc_compile_options_init(byref(opts))
    out_b = os.fsencode(out)
    opts.output_path = out_b
    keep: list[object] = []
    if seq_lens is not None:
        arr = (c_int64 * len(seq_lens))(*[int(v) for v in seq_lens])
        keep.append(arr)
        opts.seq_lens = ctypes.cast(arr, ctypes.POINTER(c_int64))
        opts.num_seq_lens = len(seq_lens)
    if batch_sizes is not None:
        arr = (c_int64 * len(batch_sizes))(*[int(v) for v in batch_sizes])
        keep.append(arr)
        opts.batch_sizes = ctypes.cast(arr, ctypes.POINTER(c_int64))
        opts.num_batch_sizes = len(batch_sizes)
    if token_buckets is not None:
        arr = (c_int64 * max(1, len(token_buckets)))(*[int(v) for v in token_buckets])
        keep.append(arr)
        opts.token_buckets = ctypes.cast(arr, ctypes.POINTER(c_int64))
        opts.num_token_buckets = len(token_buckets)
    if task is not None:
        if task not in _TASKS:
            raise InvalidArgumentError(
                f"task {task!r}: expected one of {', '.join(sorted(_TASKS))}")
        opts.task = c_int(_TASKS[task]).value
    if target_cpu is not None:
        b = target_cpu.encode()
        keep.append(b)
        opts.target_cpu = b
    if target_features is not None:
        b = target_features.encode()
        keep.append(b)
        opts.target_features = b
    if gemm is not None:
        if gemm not in _GEMM:
            raise InvalidArgumentError(f"gemm {gemm!r}: expected bertc, amx or blas")
        opts.gemm = _GEMM[gemm]
    if weights is not None:
        if weights not in _WEIGHTS:
            raise InvalidArgumentError(f"weights {weights!r}: expected embed or external")
        opts.weights = _WEIGHTS[weights]
    opts.precision = _PRECISION[precision]
    if keep_fp32 is not None:
        b = (keep_fp32 if isinstance(keep_fp32, str) else ",".join(keep_fp32)).encode()
        keep.append(b)
        opts.keep_fp32 = b
    if calibrate is not None:
        b = os.fsencode(calibrate)
        keep.append(b)
        opts.probe_texts = b
    if min_cosine is not None:
        opts.min_cosine = min_cosine
    opts.threads = threads
    opts.jobs = jobs
    report: Optional[Progress] = None
    if progress is True:
        report = _print_progress
    elif callable(progress):
        report = progress
    if report is not None:
        fn = report

        def on_phase(user: object, phase: bytes, seconds: float) -> None:
            fn(phase.decode("utf-8", "replace"), seconds)

        cb = N.PROGRESS(on_phase)
        keep.append(cb)
        opts.progress = cb
    check(lib, lib.bertc_compile(os.fsencode(model), byref(opts)))
    return os.fspath(out)
