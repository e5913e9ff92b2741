"""ctypes declarations of bertc's public C API (include/bertc/*.h).

The structures mirror the C headers field by field; tests/test_abi.py compiles
a C program that prints each one's size and field offsets and compares them
with these. ctypes releases the GIL for the duration of every foreign call, so
tokenizing and running happen without it.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_double,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any, Optional

status_t = c_void_p  # bertc_status_t: NULL is OK, else owned by the caller

# ---------------------------------------------------------------- abi.h --


class AbiBucket(Structure):
    _fields_ = [
        ("batch", c_int32),
        ("seq", c_int32),
        ("entry", c_void_p),
        ("arena_bytes", c_uint64),
        ("peak_live_bytes", c_uint64),
        ("unplanned_bytes", c_uint64),
        ("kernel_calls", c_uint64),
    ]


class AbiTensor(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("dtype", c_int32),
        ("rank", c_int32),
        ("dims", c_int64 * 4),
    ]


class AbiVariant(Structure):
    _fields_ = [
        ("target_cpu", c_char_p),
        ("target_features", c_char_p),
        ("arena_size", c_uint64),
        ("buckets", POINTER(AbiBucket)),
        ("token_buckets", POINTER(AbiBucket)),
    ]


class ModelDescriptor(Structure):
    _fields_ = [
        ("magic", c_uint32),
        ("abi_version", c_uint32),
        ("model_name", c_char_p),
        ("metadata_json", c_char_p),
        ("target_cpu", c_char_p),
        ("target_features", c_char_p),
        ("bertc_version", c_char_p),
        ("weights", c_void_p),
        ("weights_file", c_char_p),
        ("weights_size", c_uint64),
        ("weights_align", c_uint64),
        ("weights_hash", c_uint64),
        ("arena_size", c_uint64),
        ("arena_align", c_uint64),
        ("num_buckets", c_uint32),
        ("num_inputs", c_uint32),
        ("num_outputs", c_uint32),
        ("flags", c_uint32),
        ("buckets", POINTER(AbiBucket)),
        ("inputs", POINTER(AbiTensor)),
        ("outputs", POINTER(AbiTensor)),
        ("tokenizer_blob", c_void_p),
        ("tokenizer_blob_size", c_uint64),
        ("num_variants", c_uint32),
        ("variants", POINTER(AbiVariant)),
        ("num_token_buckets", c_uint32),
        ("token_buckets", POINTER(AbiBucket)),
    ]


# -------------------------------------------------------------- bertc.h --


class ModelLoadOptions(Structure):
    _fields_ = [
        ("weights_path", c_char_p),
        ("verify_weights", c_bool),
        ("inspect_only", c_bool),
        ("variant", c_char_p),
    ]


class ContextOptions(Structure):
    _fields_ = [
        ("num_threads", c_int32),
        ("max_batch", c_int32),
        ("threading", c_int),
        ("parallel_for", c_void_p),
        ("parallel_for_user", c_void_p),
        ("packing", c_int),
    ]


class RunInput(Structure):
    _fields_ = [
        ("count", c_int32),
        ("lengths", POINTER(c_int32)),
        ("input_ids", POINTER(POINTER(c_int32))),
        ("token_type_ids", POINTER(POINTER(c_int32))),
        ("attention_mask", POINTER(POINTER(c_int32))),
        ("pad_id", c_int32),
    ]


class TensorView(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("dtype", c_int),
        ("rank", c_int32),
        ("dims", c_int64 * 4),
        ("data", c_void_p),
        ("size_bytes", c_uint64),
    ]


class RunInfo(Structure):
    _fields_ = [
        ("num_calls", c_uint32),
        ("last_batch", c_int32),
        ("last_seq", c_int32),
        ("padded_tokens", c_uint64),
        ("real_tokens", c_uint64),
        ("packed_calls", c_uint32),
    ]


class Encoding(Structure):
    _fields_ = [
        ("length", c_int32),
        ("input_ids", POINTER(c_int32)),
        ("token_type_ids", POINTER(c_int32)),
        ("offsets", POINTER(c_int32)),
        ("tokens", POINTER(c_char_p)),
        ("word_ids", POINTER(c_int32)),
        ("truncated", c_bool),
    ]


# -------------------------------------------------------------- tasks.h --

TASK_NAMES = {
    0: "auto",
    1: "encoder",
    2: "embedding",
    3: "fill-mask",
    4: "next-sentence",
    5: "pretraining",
    6: "sequence-classification",
    7: "token-classification",
    8: "question-answering",
    9: "discriminator",
}

ENGINE_RUN = CFUNCTYPE(status_t, c_void_p, POINTER(RunInput))


class Engine(Structure):
    _fields_ = [
        ("self", c_void_p),
        ("run", c_void_p),
        ("num_outputs", c_void_p),
        ("output", c_void_p),
        ("max_batch", c_int32),
        ("max_seq", c_int32),
        ("pad_id", c_int32),
    ]


class PipelineOptions(Structure):
    _fields_ = [
        ("task", c_int),
        ("raw", c_bool),
        ("top_k", c_int32),
        ("aggregation", c_int),
        ("function", c_int),
        ("ignore_labels", POINTER(c_char_p)),
        ("num_ignore_labels", c_size_t),
        ("max_window_length", c_int32),
        ("doc_stride", c_int32),
        ("max_answer_length", c_int32),
        ("handle_impossible_answer", c_bool),
        ("align_to_words", c_bool),
        ("max_batch_tokens", c_int64),
    ]


class PipelineInput(Structure):
    _fields_ = [
        ("text", c_char_p),
        ("text_length", c_size_t),
        ("text_pair", c_char_p),
        ("pair_length", c_size_t),
        ("name", c_char_p),
    ]


SINK_ANSWER = CFUNCTYPE(status_t, c_void_p, c_size_t, POINTER(ctypes.c_char), c_size_t)
SINK_TRUNCATED = CFUNCTYPE(None, c_void_p, c_size_t)


class AnswerSink(Structure):
    _fields_ = [
        ("answer", SINK_ANSWER),
        ("truncated", SINK_TRUNCATED),
        ("user", c_void_p),
    ]


# ----------------------------------------------------------- compiler.h --

PROGRESS = CFUNCTYPE(None, c_void_p, c_char_p, c_double)


class CompileOptions(Structure):
    _fields_ = [
        ("output_path", c_char_p),
        ("seq_lens", POINTER(c_int64)),
        ("num_seq_lens", c_size_t),
        ("batch_sizes", POINTER(c_int64)),
        ("num_batch_sizes", c_size_t),
        ("token_buckets", POINTER(c_int64)),
        ("num_token_buckets", c_size_t),
        ("task", c_int),
        ("target_cpu", c_char_p),
        ("target_features", c_char_p),
        ("linker", c_char_p),
        ("weights", c_int),
        ("emit", c_int),
        ("gemm", c_int),
        ("threads", c_int32),
        ("jobs", c_int32),
        ("passes", c_char_p),
        ("disabled_passes", c_char_p),
        ("print_after", c_char_p),
        ("verify_each", c_bool),
        ("stats", c_bool),
        ("quiet", c_bool),
        ("progress", PROGRESS),
        ("progress_user", c_void_p),
        ("precision", c_int),
        ("keep_fp32", c_char_p),
        ("probe_texts", c_char_p),
        ("min_cosine", c_double),
    ]


# The structures tests/test_abi.py checks against the C headers, by C name.
STRUCTS: dict[str, type[Structure]] = {
    "bertc_abi_bucket_t": AbiBucket,
    "bertc_abi_tensor_t": AbiTensor,
    "bertc_abi_variant_t": AbiVariant,
    "bertc_model_descriptor_t": ModelDescriptor,
    "bertc_model_load_options_t": ModelLoadOptions,
    "bertc_context_options_t": ContextOptions,
    "bertc_run_input_t": RunInput,
    "bertc_tensor_view_t": TensorView,
    "bertc_run_info_t": RunInfo,
    "bertc_encoding_t": Encoding,
    "bertc_engine_t": Engine,
    "bertc_pipeline_options_t": PipelineOptions,
    "bertc_pipeline_input_t": PipelineInput,
    "bertc_answer_sink_t": AnswerSink,
    "bertc_compile_options_t": CompileOptions,
}

# ---------------------------------------------------------------- loading --

_HERE = Path(__file__).resolve().parent


def _find(name: str, env: str) -> str:
    """The path of lib<name>.so: $<env> when set, else the package's lib/."""
    override = os.environ.get(env)
    if override:
        return override
    for cand in (_HERE / "lib" / f"lib{name}.so", _HERE / "lib" / f"lib{name}.so.0"):
        if cand.exists():
            return str(cand)
    return f"lib{name}.so.0"  # the dynamic loader's search path


def _sig(lib: ctypes.CDLL, name: str, res: Any, *args: Any) -> None:
    fn = getattr(lib, name)
    fn.restype = res
    fn.argtypes = list(args)


_runtime: Optional[ctypes.CDLL] = None
_compiler: Optional[ctypes.CDLL] = None


def runtime() -> ctypes.CDLL:
    """libbertc_runtime.so with its signatures declared (loaded once)."""
    global _runtime
    if _runtime is not None:
        return _runtime
    lib = ctypes.CDLL(_find("bertc_runtime", "BERTC_RUNTIME_LIBRARY"))
    _sig(lib, "bertc_status_message", c_char_p, status_t)
    _sig(lib, "bertc_status_code", c_int, status_t)
    _sig(lib, "bertc_status_free", None, status_t)
    _sig(lib, "bertc_model_load_options_init", None, POINTER(ModelLoadOptions))
    _sig(lib, "bertc_model_load", status_t, c_char_p, POINTER(ModelLoadOptions),
         POINTER(c_void_p))
    _sig(lib, "bertc_model_release", None, c_void_p)
    _sig(lib, "bertc_model_descriptor", POINTER(ModelDescriptor), c_void_p)
    _sig(lib, "bertc_model_metadata_json", c_char_p, c_void_p)
    _sig(lib, "bertc_model_max_batch", c_int32, c_void_p)
    _sig(lib, "bertc_model_max_seq", c_int32, c_void_p)
    _sig(lib, "bertc_model_variant", POINTER(AbiVariant), c_void_p, POINTER(c_uint32))
    _sig(lib, "bertc_model_vocab_size", c_int64, c_void_p)
    _sig(lib, "bertc_model_type_vocab_size", c_int64, c_void_p)
    _sig(lib, "bertc_context_options_init", None, POINTER(ContextOptions))
    _sig(lib, "bertc_context_create", status_t, c_void_p, POINTER(ContextOptions),
         POINTER(c_void_p))
    _sig(lib, "bertc_context_release", None, c_void_p)
    _sig(lib, "bertc_context_num_threads", c_int32, c_void_p)
    _sig(lib, "bertc_context_max_batch", c_int32, c_void_p)
    _sig(lib, "bertc_run_input_init", None, POINTER(RunInput))
    _sig(lib, "bertc_context_run", status_t, c_void_p, POINTER(RunInput))
    _sig(lib, "bertc_context_output", status_t, c_void_p, c_uint32, POINTER(TensorView))
    _sig(lib, "bertc_context_output_by_name", status_t, c_void_p, c_char_p,
         POINTER(TensorView))
    _sig(lib, "bertc_context_run_info", None, c_void_p, POINTER(RunInfo))
    _sig(lib, "bertc_tokenizer_create_from_model", status_t, c_void_p, POINTER(c_void_p))
    _sig(lib, "bertc_tokenizer_release", None, c_void_p)
    _sig(lib, "bertc_tokenizer_max_length", c_int32, c_void_p)
    _sig(lib, "bertc_tokenizer_encode", status_t, c_void_p, c_char_p, c_size_t, c_char_p,
         c_size_t, POINTER(Encoding))
    _sig(lib, "bertc_tokenizer_encoding_deinit", None, POINTER(Encoding))
    _sig(lib, "bertc_context_engine", None, c_void_p, POINTER(Engine))
    _sig(lib, "bertc_pipeline_options_init", None, POINTER(PipelineOptions))
    _sig(lib, "bertc_pipeline_create", status_t, POINTER(Engine), c_char_p, c_void_p,
         POINTER(PipelineOptions), POINTER(c_void_p))
    _sig(lib, "bertc_pipeline_release", None, c_void_p)
    _sig(lib, "bertc_pipeline_run_json", status_t, c_void_p, POINTER(PipelineInput), c_size_t,
         POINTER(AnswerSink))
    _sig(lib, "bertc_aggregation_from_name", c_bool, c_char_p, POINTER(c_int))
    _sig(lib, "bertc_score_function_from_name", c_bool, c_char_p, POINTER(c_int))
    _sig(lib, "bertc_task_from_name", c_bool, c_char_p, POINTER(c_int))
    _runtime = lib
    return lib


def compiler() -> ctypes.CDLL:
    """libbertc_compiler.so with its signatures declared (loaded on first use)."""
    global _compiler
    if _compiler is not None:
        return _compiler
    lib = ctypes.CDLL(_find("bertc_compiler", "BERTC_COMPILER_LIBRARY"))
    _sig(lib, "bertc_status_message", c_char_p, status_t)
    _sig(lib, "bertc_status_code", c_int, status_t)
    _sig(lib, "bertc_status_free", None, status_t)
    _sig(lib, "bertc_compile_options_init", None, POINTER(CompileOptions))
    _sig(lib, "bertc_compile", status_t, c_char_p, POINTER(CompileOptions))
    _sig(lib, "bertc_inspect_json", status_t, c_char_p, POINTER(c_void_p))
    _compiler = lib
    return lib


def libc_free(ptr: int) -> None:
    """free() of a heap string a bertc call returned."""
    _libc.free(ctypes.c_void_p(ptr))


_libc = ctypes.CDLL(None)
_libc.free.argtypes = [c_void_p]
_libc.free.restype = None

