"""Builds the peers' model artifacts for one model (run by bench/run.py in a subprocess).

  python3 bench/prepare.py --name NAME --src HF_DIR --out CACHE_DIR [--random-bert-base]
                           [--openvino] [--ort-int8]

Writes into CACHE_DIR (reused when its stamp matches):
  hf/                     only with --random-bert-base: BertModel(BertConfig(768/12/12/3072,
                          vocab 30522)), torch.manual_seed(0), save_pretrained (safetensors),
                          plus the MiniLM tokenizer files (same bert-base-uncased vocabulary)
  model.onnx              torch.onnx.export of the encoder (last_hidden_state only), fp32,
                          dynamic batch and seq axes, eager attention so the ORT fusions match
  model.ort.onnx          onnxruntime.transformers.optimizer.optimize_model(model_type='bert',
                          num_heads, hidden_size, FusionOptions('bert') defaults, default opt_level)
  model.ort.int8.onnx     only with --ort-int8: onnxruntime.quantization.quantize_dynamic of
                          model.ort.onnx (QInt8 weights per channel, dynamic uint8 activations:
                          the settings ORT documents for transformer models on CPU)
  openvino/model.xml      only with --openvino (openvino is imported only then):
                          openvino.convert_model(model.onnx), saved with compress_to_fp16=False
  ref_b1_s128.npz         torch eager (default attention) last_hidden_state and the mean-pooled,
                          L2-normalized sentence embedding on the bench's b=1, S=128 ids
  prepare.json            what was done: exporter, optimizer options, fused operator counts, sizes
"""

import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import token_ids  # noqa: E402

STAMP_VERSION = 4


def log(msg):
    print(f"[prepare] {msg}", file=sys.stderr, flush=True)


def build_random_bert_base(hf_dir, tokenizer_src):
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2,
                     hidden_act="gelu")
    model = BertModel(cfg).eval()
    tmp = hf_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    for f in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        p = os.path.join(tokenizer_src, f)
        if os.path.exists(p):
            shutil.copy(p, os.path.join(tmp, f))
    shutil.rmtree(hf_dir, ignore_errors=True)
    os.rename(tmp, hf_dir)


class Encoder:
    """Wraps the HF model so the graph returns last_hidden_state only."""

    def __new__(cls, model):
        import torch

        class _Enc(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.m(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

        return _Enc(model)


def export_onnx(hf_dir, path, info):
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(hf_dir, attn_implementation="eager", dtype=torch.float32).eval()
    enc = Encoder(model)
    ids = torch.tensor(token_ids(2, 16, model.config.vocab_size), dtype=torch.int64)
    args = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "seq"} for n in names}
    axes["last_hidden_state"] = {0: "batch", 1: "seq"}
    errors = []
    for dynamo in (False, True):
        try:
            kw = dict(input_names=names, output_names=["last_hidden_state"], opset_version=17,
                      do_constant_folding=True, dynamo=dynamo)
            if dynamo:
                b, s = torch.export.Dim("batch", max=1024), torch.export.Dim("seq", max=512)
                kw["dynamic_shapes"] = {n: {0: b, 1: s} for n in names}
                kw["external_data"] = False
                kw["opset_version"] = 18
            else:
                kw["dynamic_axes"] = axes
            with torch.inference_mode():
                torch.onnx.export(enc, args, path, **kw)
            info["exporter"] = "torch.onnx.export(dynamo=%s, opset %d), attn_implementation=eager" % (
                dynamo, kw["opset_version"])
            if errors:
                info["export_fallback_errors"] = errors
            return
        except Exception as e:  # noqa: BLE001 - try the other exporter, report both
            errors.append("dynamo=%s: %s: %s" % (dynamo, type(e).__name__, str(e)[:500]))
            log("export with dynamo=%s failed: %s" % (dynamo, errors[-1]))
    raise RuntimeError("ONNX export failed: " + " | ".join(errors))


def optimize_ort(src, dst, heads, hidden, info):
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    opts = FusionOptions("bert")
    m = optimizer.optimize_model(src, model_type="bert", num_heads=heads, hidden_size=hidden,
                                 optimization_options=opts, opt_level=None, use_gpu=False)
    m.save_model_to_file(dst)
    stats = m.get_fused_operator_statistics()
    info["ort_optimizer"] = {
        "call": "optimize_model(model_type='bert', num_heads=%d, hidden_size=%d, "
                "optimization_options=FusionOptions('bert'), opt_level=None (tool default: 1), "
                "use_gpu=False)" % (heads, hidden),
        "fusion_options": {k: v for k, v in vars(opts).items() if isinstance(v, (bool, int, float, str))},
        "fused_operators": {k: int(v) for k, v in stats.items()},
        "fully_optimized": bool(m.is_fully_optimized()),
    }


def convert_openvino(src, xml, info):
    import openvino as ov

    model = ov.convert_model(src)
    os.makedirs(os.path.dirname(xml), exist_ok=True)
    ov.save_model(model, xml, compress_to_fp16=False)
    info["openvino_ir"] = "openvino.convert_model(model.onnx); save_model(compress_to_fp16=False)"


def quantize_ort(src, dst, info):
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # DefaultTensorType: the optimizer's fused ops (com.microsoft domain) defeat ORT's shape
    # inference, and quantize_dynamic asks for the element type it cannot infer (float).
    quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    info["ort_int8"] = ("quantize_dynamic(model.ort.onnx, weight_type=QuantType.QInt8, per_channel=True, "
                        "extra_options={'DefaultTensorType': FLOAT}) (activations: dynamic per-tensor uint8)")


def reference(hf_dir, path, info):
    import numpy as np
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(hf_dir, dtype=torch.float32).eval()
    ids = torch.tensor(token_ids(1, 128, model.config.vocab_size), dtype=torch.int64)
    with torch.inference_mode():
        h = model(input_ids=ids, attention_mask=torch.ones_like(ids),
                  token_type_ids=torch.zeros_like(ids)).last_hidden_state
    emb = h.mean(dim=1)
    emb = emb / emb.norm(dim=1, keepdim=True)
    np.savez(path, last_hidden_state=h.numpy(), embedding=emb.numpy())
    info["reference"] = "torch eager, attn_implementation=%s" % getattr(
        model.config, "_attn_implementation", "?")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--src", required=True, help="HF model directory (tokenizer source with --random-bert-base)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--random-bert-base", action="store_true")
    ap.add_argument("--openvino", action="store_true", help="also the OpenVINO IR (imports openvino)")
    ap.add_argument("--ort-int8", action="store_true", help="also ORT's dynamic int8 model")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    stamp_path = os.path.join(a.out, "prepare.json")
    if a.random_bert_base:
        hf_dir = os.path.join(a.out, "hf")
    else:
        hf_dir = os.path.abspath(a.src)
    import onnxruntime
    import torch
    import transformers

    versions = {"torch": torch.__version__, "transformers": transformers.__version__,
                "onnxruntime": onnxruntime.__version__}
    if a.openvino:
        import openvino

        versions["openvino"] = openvino.__version__
    key = {"v": STAMP_VERSION, "name": a.name, "src": hf_dir, "versions": versions,
           "openvino": a.openvino, "ort_int8": a.ort_int8}
    if os.path.exists(stamp_path):
        with open(stamp_path) as f:
            old = json.load(f)
        files = (["model.onnx", "model.ort.onnx", "ref_b1_s128.npz"] +
                 (["openvino/model.xml"] if a.openvino else []) + (["model.ort.int8.onnx"] if a.ort_int8 else []))
        if old.get("key") == key and all(os.path.exists(os.path.join(a.out, p)) for p in files):
            log("%s: cached artifacts in %s" % (a.name, a.out))
            print(json.dumps(old))
            return
    info = {"key": key, "hf_dir": hf_dir}
    t = time.time()
    if a.random_bert_base:
        log("building the random BERT-base checkpoint")
        build_random_bert_base(hf_dir, a.src)
    with open(os.path.join(hf_dir, "config.json")) as f:
        cfg = json.load(f)
    heads, hidden = cfg["num_attention_heads"], cfg["hidden_size"]
    log("%s: exporting ONNX" % a.name)
    onnx_path = os.path.join(a.out, "model.onnx")
    export_onnx(hf_dir, onnx_path, info)
    log("%s: ORT transformer optimizer" % a.name)
    optimize_ort(onnx_path, os.path.join(a.out, "model.ort.onnx"), heads, hidden, info)
    if a.ort_int8:
        log("%s: ORT dynamic int8" % a.name)
        quantize_ort(os.path.join(a.out, "model.ort.onnx"), os.path.join(a.out, "model.ort.int8.onnx"), info)
    if a.openvino:
        log("%s: OpenVINO IR" % a.name)
        convert_openvino(onnx_path, os.path.join(a.out, "openvino", "model.xml"), info)
    log("%s: torch reference" % a.name)
    reference(hf_dir, os.path.join(a.out, "ref_b1_s128.npz"), info)
    info["prepare_seconds"] = round(time.time() - t, 1)
    with open(stamp_path, "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
