"""Peer engines for bench/run.py; each runs in its own process.

  python3 bench/engines.py serve ENGINE CACHE_DIR THREADS
      Loads the model, prints {"ready": ...}, then answers one JSON line per
      request line on stdin:
        {"cmd": "run", "batch": B, "seq": S, "warmup": W, "iters": N}
            -> {"times_ms": [...]}          (each a wall time of one inference)
        {"cmd": "quit"} -> {"vmhwm_kb": ...} and exit
  python3 bench/engines.py cold ENGINE CACHE_DIR THREADS SEQ BATCH OUT.npy
      Process start to first result: imports the engine, loads the model, runs
      one inference on the bench ids, prints {"done": true, ...} as soon as the
      result is there (run.py stops its clock on that line), then saves the
      output for the numerical check.

ENGINE is ort, torch or openvino. Inputs: the bench's deterministic ids
(common.token_ids), attention mask all ones, token_type_ids zeros, int64.
Only the engine's own package (and numpy) is imported.
"""

import json
import os
import sys
import time

T_START = time.perf_counter()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

from common import token_ids, vm_hwm_kb  # noqa: E402


def load_config(cache):
    with open(os.path.join(cache, "prepare.json")) as f:
        info = json.load(f)
    with open(os.path.join(info["hf_dir"], "config.json")) as f:
        return info, json.load(f)


class Ort:
    name = "ort"

    def __init__(self, cache, threads, info, cfg):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(os.path.join(cache, "model.ort.onnx"), so,
                                         providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.sess.get_inputs()]
        self.meta = {"version": ort.__version__, "providers": self.sess.get_providers(),
                     "intra_op_num_threads": threads, "inter_op_num_threads": 1,
                     "execution_mode": "ORT_SEQUENTIAL", "graph_optimization_level": "ORT_ENABLE_ALL",
                     "model": "model.ort.onnx"}

    def feeds(self, ids):
        a = np.asarray(ids, dtype=np.int64)
        all_ = {"input_ids": a, "attention_mask": np.ones_like(a), "token_type_ids": np.zeros_like(a)}
        return {k: all_[k] for k in self.inputs}

    def run(self, feeds):
        return self.sess.run(None, feeds)[0]


class OrtInt8(Ort):
    """ORT on model.ort.int8.onnx (prepare.py --ort-int8: quantize_dynamic of the optimized model)."""
    name = "ort-int8"

    def __init__(self, cache, threads, info, cfg):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(os.path.join(cache, "model.ort.int8.onnx"), so,
                                         providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.sess.get_inputs()]
        self.meta = {"version": ort.__version__, "providers": self.sess.get_providers(),
                     "intra_op_num_threads": threads, "model": "model.ort.int8.onnx",
                     "quantization": info.get("ort_int8")}


class Torch:
    name = "torch"

    def __init__(self, cache, threads, info, cfg):
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        self.torch = torch
        self.model = AutoModel.from_pretrained(info["hf_dir"], dtype=torch.float32).eval()
        self.meta = {"version": torch.__version__, "num_threads": torch.get_num_threads(),
                     "attn_implementation": getattr(self.model.config, "_attn_implementation", "?"),
                     "mode": "eager, inference_mode, fp32"}

    def feeds(self, ids):
        t = self.torch.tensor(ids, dtype=self.torch.int64)
        return {"input_ids": t, "attention_mask": self.torch.ones_like(t),
                "token_type_ids": self.torch.zeros_like(t)}

    def run(self, feeds):
        with self.torch.inference_mode():
            return self.model(**feeds).last_hidden_state.numpy()


class OpenVino:
    name = "openvino"

    def __init__(self, cache, threads, info, cfg):
        import openvino as ov
        import openvino.properties as props
        import openvino.properties.hint as hints

        core = ov.Core()
        model = core.read_model(os.path.join(cache, "openvino", "model.xml"))
        config = {
            hints.inference_precision: ov.Type.f32,          # INFERENCE_PRECISION_HINT f32: no bf16/AMX
            props.inference_num_threads: threads,            # INFERENCE_NUM_THREADS
            hints.performance_mode: hints.PerformanceMode.LATENCY,
            props.num_streams: 1,
        }
        self.compiled = core.compile_model(model, "CPU", config)
        self.req = self.compiled.create_infer_request()
        self.inputs = [p.get_any_name() for p in self.compiled.inputs]
        self.meta = {"version": ov.__version__, "model": "openvino/model.xml (fp32 IR)",
                     "config": {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads,
                                "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}}

    def verify_precision(self):
        """What the compiled model really runs: the hint read back, and the runtime
        precision of every executed node (bf16 anywhere would mean the hint was ignored)."""
        import openvino as ov

        got = {}
        for key in ("INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "NUM_STREAMS", "PERFORMANCE_HINT"):
            try:
                got[key] = str(self.compiled.get_property(key))
            except Exception as e:  # noqa: BLE001
                got[key] = "error: %s" % e
        hist = {}
        for op in self.compiled.get_runtime_model().get_ops():
            rt = op.get_rt_info()
            p = str(rt["runtimePrecision"].astype(str)) if "runtimePrecision" in rt else "?"
            hist[p] = hist.get(p, 0) + 1
        default = None
        try:
            default = str(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT"))
        except Exception as e:  # noqa: BLE001
            default = "error: %s" % e
        return {"compiled_properties": got, "runtime_precision_histogram": hist,
                "cpu_default_precision_hint": default,
                "no_bf16": not any("bf16" in k.lower() for k in hist)}

    def feeds(self, ids):
        a = np.asarray(ids, dtype=np.int64)
        all_ = {"input_ids": a, "attention_mask": np.ones_like(a), "token_type_ids": np.zeros_like(a)}
        return {k: all_[k] for k in self.inputs}

    def run(self, feeds):
        self.req.infer(feeds)
        return self.req.get_output_tensor(0).data


ENGINES = {"ort": Ort, "ort-int8": OrtInt8, "torch": Torch, "openvino": OpenVino}


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def serve(engine, cache, threads):
    info, cfg = load_config(cache)
    eng = ENGINES[engine](cache, threads, info, cfg)
    ready = {"ready": True, "engine": engine, "meta": eng.meta}
    if engine == "openvino":
        ready["precision"] = eng.verify_precision()
    emit(ready)
    vocab = cfg["vocab_size"]
    for line in sys.stdin:
        req = json.loads(line)
        if req["cmd"] == "quit":
            emit({"vmhwm_kb": vm_hwm_kb()})
            return
        feeds = eng.feeds(token_ids(req["batch"], req["seq"], vocab))
        for _ in range(req.get("warmup", 1)):
            eng.run(feeds)
        times = []
        for _ in range(req["iters"]):
            t = time.perf_counter()
            eng.run(feeds)
            times.append((time.perf_counter() - t) * 1e3)
        emit({"times_ms": times})


def cold(engine, cache, threads, seq, batch, out_path):
    info, cfg = load_config(cache)
    ids = token_ids(batch, seq, cfg["vocab_size"])
    t_import = time.perf_counter()
    eng = ENGINES[engine](cache, threads, info, cfg)
    t_loaded = time.perf_counter()
    out = eng.run(eng.feeds(ids))
    t_done = time.perf_counter()
    emit({"done": True, "in_process_ms": (t_done - T_START) * 1e3,
          "load_ms": (t_loaded - t_import) * 1e3, "first_run_ms": (t_done - t_loaded) * 1e3,
          "vmhwm_kb": vm_hwm_kb()})
    np.save(out_path, np.asarray(out, dtype=np.float32))


def main():
    cmd, engine, cache, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if cmd == "serve":
        serve(engine, cache, threads)
    elif cmd == "cold":
        cold(engine, cache, threads, int(sys.argv[5]), int(sys.argv[6]), sys.argv[7])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
