"""bertc.Model: a compiled model .so, loaded by the bertc runtime."""

from __future__ import annotations

import ctypes
import json
import os
import sys
import threading
from contextlib import contextmanager
from ctypes import POINTER, byref, c_char_p, c_int, c_int32, c_void_p
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence, Union

import numpy as np

if TYPE_CHECKING:  # numpy.typing costs milliseconds to import
    import numpy.typing as npt

from . import _native as N
from ._errors import Error, InvalidArgumentError, NotFoundError, error_for

Texts = Union[str, Sequence[str]]
Pair = tuple[str, str]


def check(lib: ctypes.CDLL, status: Optional[int]) -> None:
    """Raises the bertc.Error of a non-NULL status (and frees the status)."""
    if not status:
        return
    raw = lib.bertc_status_message(status)
    message = raw.decode("utf-8", "replace") if raw else "unknown error"
    code = int(lib.bertc_status_code(status))
    lib.bertc_status_free(status)
    raise error_for(code, message)


def _utf8(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidArgumentError(f"{what}: expected a string, got {type(text).__name__}")
    return text.encode("utf-8")


class _Slot:
    """One runtime context; used by one thread at a time."""

    def __init__(self, handle: int) -> None:
        self.handle = handle


class _Encodings:
    """Encodings made by the C tokenizer, released together."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib
        self.items: list[N.Encoding] = []

    def __enter__(self) -> "_Encodings":
        return self

    def __exit__(self, *exc: object) -> None:
        for e in self.items:
            self._lib.bertc_tokenizer_encoding_deinit(byref(e))
        self.items.clear()


class Model:
    """A model .so written by `bertc compile` (or bertc.compile), ready to run.

    ``threads`` is the number of threads one call uses (default: every CPU this
    process may run on, or OMP_NUM_THREADS). A Model may be shared by Python
    threads: each concurrent call borrows a runtime context of its own (created
    on first need, kept for reuse), so N threads calling at once run N contexts
    of ``threads`` threads each; give ``threads=1`` when many Python threads call
    at once. Tokenizing and running release the GIL.
    """

    def __init__(self, path: Union[str, os.PathLike[str]], threads: Optional[int] = None, *,
                 max_batch: Optional[int] = None, weights_path: Optional[str] = None,
                 verify_weights: bool = True) -> None:
        self._lib = N.runtime()
        self._handle: Optional[int] = None
        self._tokenizer: Optional[int] = None
        self.path = os.fspath(path)
        if threads is not None and threads < 0:
            raise InvalidArgumentError(f"threads must be >= 0, got {threads}")
        if max_batch is not None and max_batch < 0:
            raise InvalidArgumentError(f"max_batch must be >= 0, got {max_batch}")
        self._threads = int(threads or 0)
        self._max_batch = int(max_batch or 0)
        opts = N.ModelLoadOptions()
        self._lib.bertc_model_load_options_init(byref(opts))
        opts.verify_weights = verify_weights
        if weights_path is not None:
            opts.weights_path = os.fsencode(weights_path)
        handle = c_void_p()
        check(self._lib, self._lib.bertc_model_load(os.fsencode(self.path), byref(opts),
                                                    byref(handle)))
        self._handle = handle.value
        self.metadata: dict[str, Any] = json.loads(
            self._lib.bertc_model_metadata_json(self._handle).decode("utf-8"))
        tok = c_void_p()
        status = self._lib.bertc_tokenizer_create_from_model(self._handle, byref(tok))
        if status and self._lib.bertc_status_code(status) == NotFoundError.code:
            self._lib.bertc_status_free(status)  # the model takes token ids only
        else:
            check(self._lib, status)
            self._tokenizer = tok.value
        self._free: list[_Slot] = []
        self._all: list[_Slot] = []
        self._lock = threading.Lock()
        desc = self._lib.bertc_model_descriptor(self._handle).contents
        self._outputs = [desc.outputs[i].name.decode() for i in range(desc.num_outputs)]
        self._buckets = [(desc.buckets[i].batch, desc.buckets[i].seq)
                         for i in range(desc.num_buckets)]
        self._token_buckets = [desc.token_buckets[i].seq
                               for i in range(desc.num_token_buckets)]
        index = ctypes.c_uint32()
        variant = self._lib.bertc_model_variant(self._handle, byref(index))
        self._target_cpu = (variant.contents.target_cpu if variant else desc.target_cpu).decode()
        self._variants = [desc.variants[i].target_cpu.decode() for i in range(desc.num_variants)]
        self._pad_id = int(self.metadata.get("pad_token_id") or 0)

    # ------------------------------------------------------------ lifetime --

    def close(self) -> None:
        """Releases the contexts, the tokenizer and the model (also done when the
        Model is garbage-collected). Calls after close raise bertc.Error."""
        lib = getattr(self, "_lib", None)
        if lib is None:
            return
        with self._lock if hasattr(self, "_lock") else _nullcontext():
            for slot in getattr(self, "_all", []):
                lib.bertc_context_release(slot.handle)
            self._all, self._free = [], []
        if self._tokenizer:
            lib.bertc_tokenizer_release(self._tokenizer)
            self._tokenizer = None
        if self._handle:
            lib.bertc_model_release(self._handle)
            self._handle = None

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to report to
            pass

    def _alive(self) -> int:
        if not self._handle:
            raise Error(f"{self.path}: the model was closed")
        return self._handle

    @contextmanager
    def _context(self) -> Iterator[_Slot]:
        handle = self._alive()
        with self._lock:
            slot = self._free.pop() if self._free else None
        if slot is None:
            opts = N.ContextOptions()
            self._lib.bertc_context_options_init(byref(opts))
            opts.num_threads = self._threads
            opts.max_batch = self._max_batch
            ctx = c_void_p()
            check(self._lib, self._lib.bertc_context_create(handle, byref(opts), byref(ctx)))
            slot = _Slot(int(ctx.value or 0))
            with self._lock:
                self._all.append(slot)
        try:
            yield slot
        finally:
            with self._lock:
                self._free.append(slot)

    # ---------------------------------------------------------------- facts --

    @property
    def task(self) -> str:
        """What the model was compiled for: "embedding", "fill-mask", ..."""
        return str(self.metadata.get("task", "encoder"))

    @property
    def info(self) -> dict[str, Any]:
        """Task, sizes, buckets (and token buckets), outputs, precision, the code
        variant this host runs (target_cpu) among the .so's variants, and labels."""
        m = self.metadata
        return {
            "path": self.path,
            "task": self.task,
            "architecture": m.get("architecture"),
            "model_type": m.get("model_type"),
            "hidden_size": m.get("hidden_size"),
            "num_layers": m.get("num_layers"),
            "num_heads": m.get("num_heads"),
            "vocab_size": m.get("vocab_size"),
            "max_seq_length": self.max_seq_length,
            "buckets": [{"batch": b, "seq": s} for b, s in self._buckets],
            "token_buckets": list(self._token_buckets),
            "outputs": list(self._outputs),
            "precision": m.get("precision", "fp32"),
            "kept_fp32": [x for x in str(m.get("kept_fp32", "")).split(",") if x],
            "target_cpu": self._target_cpu,
            "variants": list(self._variants),
            "labels": list(m.get("labels") or []),
            "pooling": m.get("pooling"),
            "normalize": bool(m.get("normalize", False)),
            "threads": self._threads or (os.cpu_count() or 1),
        }

    @property
    def max_seq_length(self) -> int:
        """The longest input (in tokens) a run takes: texts are truncated to it."""
        if self._tokenizer:
            n = int(self._lib.bertc_tokenizer_max_length(self._tokenizer))
            if n > 0:
                return n
        return int(self._lib.bertc_model_max_seq(self._alive()))

    # ----------------------------------------------------------- tokenizing --

    def _tok(self) -> int:
        self._alive()
        if not self._tokenizer:
            raise NotFoundError(f"{self.path}: the model carries no tokenizer (it was compiled "
                                "from a directory without tokenizer files); pass token ids to "
                                "Model.run")
        return self._tokenizer

    def _encode_into(self, encs: _Encodings, text: Any, pair: Any = None,
                     what: str = "text") -> N.Encoding:
        tok = self._tok()
        b = _utf8(text, what)
        pb = _utf8(pair, what + " pair") if pair is not None else None
        e = N.Encoding()
        encs.items.append(e)
        check(self._lib, self._lib.bertc_tokenizer_encode(
            tok, b, len(b), pb, len(pb) if pb is not None else 0, byref(e)))
        return e

    def tokenize(self, texts: Texts, text_pairs: Optional[Sequence[str]] = None, *,
                 return_offsets_mapping: bool = False,
                 return_tokens: bool = False) -> dict[str, Any]:
        """Tokenizes like the model's HuggingFace tokenizer with ``padding=True,
        truncation=True``: a dict of int64 arrays ``input_ids``, ``token_type_ids``,
        ``attention_mask`` of shape [len(texts), longest], plus ``offset_mapping``
        ([n, longest, 2], code point offsets) and ``tokens`` when asked."""
        items = [texts] if isinstance(texts, str) else list(texts)
        pairs = list(text_pairs) if text_pairs is not None else None
        if pairs is not None and len(pairs) != len(items):
            raise InvalidArgumentError(
                f"text_pairs has {len(pairs)} entries, texts {len(items)}")
        with _Encodings(self._lib) as encs:
            for i, t in enumerate(items):
                self._encode_into(encs, t, pairs[i] if pairs else None, f"texts[{i}]")
            n = len(items)
            width = max((e.length for e in encs.items), default=0)
            ids = np.full((n, width), self._pad_id, dtype=np.int64)
            types = np.zeros((n, width), dtype=np.int64)
            mask = np.zeros((n, width), dtype=np.int64)
            offsets = np.zeros((n, width, 2), dtype=np.int64)
            tokens: list[list[str]] = []
            for i, e in enumerate(encs.items):
                L = e.length
                if L:
                    ids[i, :L] = np.ctypeslib.as_array(e.input_ids, (L,))
                    types[i, :L] = np.ctypeslib.as_array(e.token_type_ids, (L,))
                    offsets[i, :L] = np.ctypeslib.as_array(e.offsets, (L * 2,)).reshape(L, 2)
                mask[i, :L] = 1
                if return_tokens:
                    tokens.append([e.tokens[j].decode("utf-8", "replace") for j in range(L)])
        out: dict[str, Any] = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
        if return_offsets_mapping:
            out["offset_mapping"] = offsets
        if return_tokens:
            out["tokens"] = tokens
        return out

    # -------------------------------------------------------------- running --

    def _run(self, slot: _Slot, seqs: Sequence[tuple[Any, Any, int]]) -> None:
        """Runs sequences given as (ids pointer, type ids pointer, length)."""
        n = len(seqs)
        lengths = (c_int32 * n)(*[s[2] for s in seqs])
        ids = (POINTER(c_int32) * n)(*[s[0] for s in seqs])
        types = (POINTER(c_int32) * n)(*[s[1] for s in seqs])
        inp = N.RunInput()
        self._lib.bertc_run_input_init(byref(inp))
        inp.count = n
        inp.lengths = lengths
        inp.input_ids = ids
        inp.token_type_ids = types
        inp.pad_id = self._pad_id
        check(self._lib, self._lib.bertc_context_run(slot.handle, byref(inp)))

    def _output(self, slot: _Slot, name: str) -> npt.NDArray[Any]:
        view = N.TensorView()
        check(self._lib, self._lib.bertc_context_output_by_name(slot.handle, name.encode(),
                                                                byref(view)))
        shape = tuple(int(view.dims[i]) for i in range(view.rank))
        dtype = np.dtype(np.float32 if view.dtype == 0 else np.int32)
        count = int(np.prod(shape)) if shape else 1
        buf = memoryview((ctypes.c_char * (count * 4)).from_address(int(view.data or 0)))
        out: npt.NDArray[Any] = np.frombuffer(buf, dtype=dtype, count=count).reshape(shape)
        return out

    def _chunk(self) -> int:
        """Sequences per runtime call: the context's max_batch."""
        with self._context() as slot:
            return int(self._lib.bertc_context_max_batch(slot.handle))

    def run(self, input_ids: Any, token_type_ids: Any = None,
            attention_mask: Any = None) -> dict[str, npt.NDArray[Any]]:
        """Runs token ids and returns every output tensor by name (float32 arrays).

        ``input_ids`` is a list of id sequences (of any lengths) or a 2-D array;
        with a 2-D array, ``attention_mask`` (same shape) gives each row's length
        (its real tokens come first, as HuggingFace tokenizers pad). Outputs with a
        sequence dimension have the longest length of the run; positions past a
        sequence's length are zero."""
        self._alive()
        rows = [np.ascontiguousarray(r, dtype=np.int32) for r in input_ids]
        n = len(rows)
        if n == 0:
            raise InvalidArgumentError("input_ids: no sequences")
        if attention_mask is not None:
            masks = [np.asarray(m) for m in attention_mask]
            if len(masks) != n:
                raise InvalidArgumentError(
                    f"attention_mask has {len(masks)} rows, input_ids {n}")
            lens = []
            for i, (r, m) in enumerate(zip(rows, masks)):
                if m.shape != r.shape:
                    raise InvalidArgumentError(
                        f"attention_mask[{i}] has shape {m.shape}, input_ids[{i}] {r.shape}")
                lens.append(int(np.nonzero(m)[0][-1]) + 1 if m.any() else 0)
        else:
            lens = [r.shape[0] if r.ndim == 1 else -1 for r in rows]
        for i, r in enumerate(rows):
            if r.ndim != 1:
                raise InvalidArgumentError(f"input_ids[{i}]: expected a sequence of ids")
        if token_type_ids is not None:
            trows = [np.ascontiguousarray(t, dtype=np.int32) for t in token_type_ids]
            if len(trows) != n or any(t.shape != r.shape for t, r in zip(trows, rows)):
                raise InvalidArgumentError("token_type_ids must have the shape of input_ids")
        else:
            trows = [np.zeros_like(r) for r in rows]
        ptr = POINTER(c_int32)
        seqs = [(r.ctypes.data_as(ptr), t.ctypes.data_as(ptr), L)
                for r, t, L in zip(rows, trows, lens)]
        chunk = self._chunk()
        results: dict[str, list[npt.NDArray[Any]]] = {}
        longest = max(lens)
        with self._context() as slot:
            for start in range(0, n, chunk):
                part = seqs[start:start + chunk]
                self._run(slot, part)
                for name in self._outputs:
                    out = self._output(slot, name)
                    if out.ndim >= 2 and out.shape[1] == max(s[2] for s in part) \
                            and out.shape[1] != longest and self._per_token(name):
                        pad = np.zeros((out.shape[0], longest) + out.shape[2:], out.dtype)
                        pad[:, :out.shape[1]] = out
                        out = pad
                    results.setdefault(name, []).append(np.array(out))
        return {k: np.concatenate(v) for k, v in results.items()}

    def _per_token(self, name: str) -> bool:
        desc = self._lib.bertc_model_descriptor(self._alive()).contents
        for i in range(desc.num_outputs):
            t = desc.outputs[i]
            if t.name.decode() == name:
                return bool(t.rank >= 2 and t.dims[1] == -2)  # BERTC_ABI_DIM_SEQ
        return False

    def encode(self, sentences: Texts, batch_size: int = 32,
               show_progress_bar: Optional[bool] = None,
               output_value: str = "sentence_embedding", convert_to_numpy: bool = True,
               convert_to_tensor: bool = False, normalize_embeddings: bool = False,
               precision: str = "float32") -> Any:
        """SentenceTransformer.encode for an embedding model: float32 embeddings of
        shape [len(sentences), dim] (or [dim] for one string), in input order.

        Texts are sorted by length and run ``batch_size`` at a time (each batch
        padded only to its own longest text), as sentence-transformers does.
        ``output_value="token_embeddings"`` returns a list of [tokens, hidden]
        arrays for a model compiled with last_hidden_state. ``convert_to_tensor``
        returns a torch tensor (torch must be installed); ``precision`` other than
        "float32" is not offered."""
        self._alive()
        if precision != "float32":
            raise InvalidArgumentError(f"precision {precision!r}: only 'float32' is offered")
        if batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be >= 1, got {batch_size}")
        single = isinstance(sentences, str)
        items: list[str] = [sentences] if isinstance(sentences, str) else list(sentences)
        if output_value == "sentence_embedding":
            name = "sentence_embedding"
        elif output_value == "token_embeddings":
            name = "last_hidden_state"
        else:
            raise InvalidArgumentError(
                f"output_value {output_value!r}: expected 'sentence_embedding' or "
                "'token_embeddings'")
        if name not in self._outputs:
            raise NotFoundError(
                f"{self.path}: the model has no output {name!r} (its outputs: "
                f"{', '.join(self._outputs)}; task {self.task})")
        if show_progress_bar is None:
            show_progress_bar = False
        n = len(items)
        results: list[Any] = [None] * n
        with _Encodings(self._lib) as encs:
            for i, t in enumerate(items):
                self._encode_into(encs, t, None, f"sentences[{i}]")
            order = sorted(range(n), key=lambda i: -encs.items[i].length)
            done = 0
            with self._context() as slot:
                for start in range(0, n, batch_size):
                    idx = order[start:start + batch_size]
                    self._run(slot, [(encs.items[i].input_ids, encs.items[i].token_type_ids,
                                      encs.items[i].length) for i in idx])
                    out = self._output(slot, name)
                    for j, i in enumerate(idx):
                        row = out[j] if name == "sentence_embedding" \
                            else out[j, :encs.items[i].length]
                        results[i] = np.array(row)
                    done += len(idx)
                    if show_progress_bar:
                        print(f"\rbertc encode: {done}/{n}", end="", file=sys.stderr, flush=True)
            if show_progress_bar:
                print(file=sys.stderr)
        if name == "last_hidden_state":
            if normalize_embeddings:
                results = [r / np.maximum(np.linalg.norm(r, axis=-1, keepdims=True), 1e-12)
                           for r in results]
            return results[0] if single else results
        emb = np.stack(results) if n else np.zeros((0, self._dim(name)), np.float32)
        if normalize_embeddings:
            emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        emb = emb.astype(np.float32, copy=False)
        if convert_to_tensor:
            import torch  # an optional dependency, as in sentence-transformers

            tensor = torch.from_numpy(emb)
            return tensor[0] if single else tensor
        if not convert_to_numpy:
            rows = list(emb)
            return rows[0] if single else rows
        return emb[0] if single else emb

    def _dim(self, name: str) -> int:
        desc = self._lib.bertc_model_descriptor(self._alive()).contents
        for i in range(desc.num_outputs):
            t = desc.outputs[i]
            if t.name.decode() == name:
                return int(t.dims[t.rank - 1])
        return 0

    # ------------------------------------------------------- cross-encoders --

    def predict(self, pairs: Sequence[Pair], batch_size: int = 32,
                activation: Optional[str] = "auto") -> npt.NDArray[np.float32]:
        """CrossEncoder.predict for a sequence-classification model: the score of
        each (query, document) pair. With one label the score is the logit through
        a sigmoid ("auto" or "sigmoid"), with several the logits through a softmax
        ([n, labels]); ``activation=None`` returns the logits."""
        self._alive()
        if self.task != "sequence-classification":
            raise InvalidArgumentError(
                f"{self.path}: predict and rerank need a sequence-classification model "
                f"(a cross-encoder); this one is {self.task}")
        if batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be >= 1, got {batch_size}")
        n = len(pairs)
        logits: list[Any] = [None] * n
        with _Encodings(self._lib) as encs:
            for i, p in enumerate(pairs):
                if not isinstance(p, (tuple, list)) or len(p) != 2:
                    raise InvalidArgumentError(f"pairs[{i}]: expected a (text, text) pair")
                self._encode_into(encs, p[0], p[1], f"pairs[{i}]")
            order = sorted(range(n), key=lambda i: -encs.items[i].length)
            with self._context() as slot:
                for start in range(0, n, batch_size):
                    idx = order[start:start + batch_size]
                    self._run(slot, [(encs.items[i].input_ids, encs.items[i].token_type_ids,
                                      encs.items[i].length) for i in idx])
                    out = self._output(slot, "logits")
                    for j, i in enumerate(idx):
                        logits[i] = np.array(out[j])
        x: npt.NDArray[Any] = np.stack(logits).astype(np.float32) if n \
            else np.zeros((0, 1), np.float32)
        if activation is None:
            pass
        elif x.shape[1] == 1 and activation in ("auto", "sigmoid"):
            x = 1.0 / (1.0 + np.exp(-x))
        elif activation in ("auto", "softmax"):
            e = np.exp(x - x.max(axis=1, keepdims=True))
            x = e / e.sum(axis=1, keepdims=True)
        elif activation == "sigmoid":
            x = 1.0 / (1.0 + np.exp(-x))
        else:
            raise InvalidArgumentError(
                f"activation {activation!r}: expected 'auto', 'sigmoid', 'softmax' or None")
        x = x.astype(np.float32)
        return x[:, 0] if x.shape[1] == 1 else x

    def rerank(self, query: str, documents: Sequence[str], top_k: Optional[int] = None,
               return_documents: bool = False, batch_size: int = 32) -> list[dict[str, Any]]:
        """CrossEncoder.rank: the documents by descending relevance to the query, as
        ``{"corpus_id": i, "score": s[, "text": doc]}`` (ties keep input order)."""
        scores = self.predict([(query, d) for d in documents], batch_size=batch_size)
        if scores.ndim != 1:
            raise InvalidArgumentError(
                f"{self.path}: rerank needs a model with one output label (a cross-encoder "
                f"score); this one has {scores.shape[1]}")
        order = sorted(range(len(documents)), key=lambda i: (-float(scores[i]), i))
        if top_k is not None:
            order = order[:top_k]
        out = []
        for i in order:
            item: dict[str, Any] = {"corpus_id": i, "score": float(scores[i])}
            if return_documents:
                item["text"] = documents[i]
            out.append(item)
        return out

    # ------------------------------------------------------------ pipelines --

    def __call__(self, inputs: Any, *, top_k: Optional[int] = None,
                 aggregation_strategy: str = "simple", function_to_apply: str = "default",
                 ignore_labels: Optional[Sequence[str]] = None,
                 max_answer_len: int = 15, doc_stride: Optional[int] = None,
                 max_seq_len: Optional[int] = None, handle_impossible_answer: bool = False,
                 align_to_words: bool = True, task: Optional[str] = None) -> Any:
        """Answers like the HuggingFace pipeline of the model's task.

        fill-mask: a list of {"score","token","token_str","sequence"} per text (a
        list of such lists per mask when a text has several); text-classification:
        [{"label","score"}] (top_k=None keeps the best, an int the top_k);
        token-classification: a list of entities {"entity_group"|"entity","score",
        "word","start","end"[,"index"]}; question-answering: {"score","start","end",
        "answer"} per {"question","context"} (a list when top_k > 1); embedding: the
        embedding as a list of floats. A single input gives a single answer, a list
        gives a list."""
        self._alive()
        single = not isinstance(inputs, list)
        items = [inputs] if single else inputs
        lib = self._lib
        opts = N.PipelineOptions()
        lib.bertc_pipeline_options_init(byref(opts))
        if task is not None:
            t = c_int()
            if not lib.bertc_task_from_name(task.encode(), byref(t)):
                raise InvalidArgumentError(f"task {task!r} is not a bertc task")
            opts.task = t.value
        agg = c_int()
        if not lib.bertc_aggregation_from_name(aggregation_strategy.encode(), byref(agg)):
            raise InvalidArgumentError(f"aggregation_strategy {aggregation_strategy!r}: "
                                       "expected none, simple, first, average or max")
        opts.aggregation = agg.value
        fn = c_int()
        if not lib.bertc_score_function_from_name(function_to_apply.encode(), byref(fn)):
            raise InvalidArgumentError(f"function_to_apply {function_to_apply!r}: expected "
                                       "default, softmax, sigmoid or none")
        opts.function = fn.value
        eff_task = task or self.task
        if top_k is not None:
            if top_k < 1:
                raise InvalidArgumentError(f"top_k must be >= 1, got {top_k}")
            opts.top_k = top_k
        elif eff_task == "sequence-classification":
            opts.top_k = 0  # every label: the best is kept below, as the HF pipeline does
        keep_ignore: list[bytes] = []
        if ignore_labels is not None:
            keep_ignore = [s.encode() for s in ignore_labels]
            arr = (c_char_p * max(1, len(keep_ignore)))(*keep_ignore)
            opts.ignore_labels = arr
            opts.num_ignore_labels = len(keep_ignore)
        opts.max_answer_length = max_answer_len
        if doc_stride is not None:
            opts.doc_stride = doc_stride
        if max_seq_len is not None:
            opts.max_window_length = max_seq_len
        opts.handle_impossible_answer = handle_impossible_answer
        opts.align_to_words = align_to_words

        keep: list[bytes] = []
        pins = (N.PipelineInput * max(1, len(items)))()
        for i, item in enumerate(items):
            if isinstance(item, dict):
                if "question" in item or "context" in item:
                    text, pair = item.get("question"), item.get("context")
                    if text is None or pair is None:
                        raise InvalidArgumentError(
                            f"inputs[{i}]: question answering takes 'question' and 'context'")
                else:
                    text, pair = item.get("text"), item.get("text_pair")
            elif isinstance(item, (tuple, list)) and len(item) == 2:
                text, pair = item
            else:
                text, pair = item, None
            tb = _utf8(text, f"inputs[{i}]")
            keep.append(tb)
            pins[i].text = tb
            pins[i].text_length = len(tb)
            if pair is not None:
                pb = _utf8(pair, f"inputs[{i}] pair")
                keep.append(pb)
                pins[i].text_pair = pb
                pins[i].pair_length = len(pb)
        answers: list[Any] = [None] * len(items)

        def on_answer(user: Any, index: int, data: Any, length: int) -> Optional[int]:
            answers[index] = json.loads(ctypes.string_at(data, length).decode("utf-8"))
            return None

        sink = N.AnswerSink()
        sink.answer = N.SINK_ANSWER(on_answer)
        sink.truncated = N.SINK_TRUNCATED(0)
        with self._context() as slot:
            engine = N.Engine()
            lib.bertc_context_engine(slot.handle, byref(engine))
            meta = lib.bertc_model_metadata_json(self._alive())
            pipe = c_void_p()
            check(lib, lib.bertc_pipeline_create(byref(engine), meta, self._tok(), byref(opts),
                                                 byref(pipe)))
            try:
                check(lib, lib.bertc_pipeline_run_json(pipe, pins, len(items), byref(sink)))
            finally:
                lib.bertc_pipeline_release(pipe)
        shaped = [_hf_shape(a, top_k) for a in answers]
        if single and top_k is None and "scores" in answers[0]:
            return shaped  # TextClassificationPipeline: [{"label", "score"}] for one text
        return shaped[0] if single else shaped


def _hf_shape(answer: dict[str, Any], top_k: Optional[int]) -> Any:
    """The answer JSON `bertc run` prints, in the shape of the HuggingFace pipeline."""
    if "mask" in answer:
        masks = answer["mask"]
        if masks and isinstance(masks[0], list):
            return [[_fill(c) for c in m] for m in masks]
        return [_fill(c) for c in masks]
    if "scores" in answer:
        scores = [{"label": s["label"], "score": s["score"]} for s in answer["scores"]]
        return scores[0] if top_k is None else scores[:top_k]
    if "entities" in answer:
        return answer["entities"]
    if "answers" in answer:
        return answer["answers"]
    if "answer" in answer and "start" in answer:
        return {k: answer[k] for k in ("score", "start", "end", "answer")}
    if "embedding" in answer:
        return answer["embedding"]
    return answer


def _fill(c: dict[str, Any]) -> dict[str, Any]:
    return {"score": c["score"], "token": c["token"], "token_str": c["token_str"],
            "sequence": c["sequence"]}


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


__all__ = ["Model", "check"]
