"""Corpus throughput: bertc packed and padded against sentence-transformers and
ONNX Runtime, side by side, on text every machine has.

  python3 bench/throughput.py [--texts 3000] [--threads 2] [--build DIR]
                              [--out bench/results] [--engines st,ort,padded,packed]
                              [--memory 10000,100000]

The corpora come from the docstrings of Python's standard library (modules,
classes and functions, whitespace collapsed):
  skewed   the docstrings as they are, drawn at random: most short, a long tail
           (truncated at the model's 256 tokens like every engine truncates)
  uniform  the same words cut into texts of 40 words each
Each engine embeds the whole corpus with all-MiniLM-L6-v2 (mean pooling,
normalized) in its own process, tokenizing and writing included, on the same
threads:
  st       sentence-transformers encode(batch_size=32): sorts by length, pads
           each batch of 32 to its longest text
  ort      ONNX Runtime fp32 (the model exported with pooling and fused by ORT's
           transformer optimizer, as bench/prepare.py does), texts sorted by token
           count, padded batches of 32 (what its users do)
  padded   bertc run --input --packing never: (batch, seq) buckets, a text each
  packed   bertc run --input (default): token buckets, no padding
Reported per engine and corpus: texts/s, tokens computed per real token, the
real tokens' FLOPs per second over the whole job (to compare with the machine's
FMA peak, bench/peak.c), peak RSS, and the ratios to ORT. --memory runs bertc packed on the skewed corpus
repeated to those sizes to show that its peak memory does not grow with the
corpus. Needs GNU time (/usr/bin/time, scripts/install-deps.sh --bench) for the
peak memory of each engine process. Benchmarks are not tests: nothing here
asserts on a timing.
"""

import argparse
import ast
import json
import os
import random
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from common import thread_env  # noqa: E402

MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length


def minilm_dir():
    out = subprocess.run(["bash", os.path.join(REPO, "scripts", "minilm-dir.sh")],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


# ---- corpora ----------------------------------------------------------------------------

def stdlib_docstrings():
    """Docstrings of the standard library's Python sources, whitespace collapsed, in a
    fixed order."""
    root = os.path.dirname(os.__file__)
    paras = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if d not in ("site-packages", "test", "tests", "idlelib", "__pycache__"))
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            try:
                with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                    tree = ast.parse(f.read())
            except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                     ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc and len(doc) >= 3:
                        paras.append(" ".join(doc.split()))
    return paras


def make_corpora(n, seed=0):
    paras = stdlib_docstrings()
    rng = random.Random(seed)
    skewed = [rng.choice(paras) for _ in range(n)]
    words = " ".join(paras).split()
    start = rng.randrange(0, max(1, len(words) - 40 * n))
    uniform = [" ".join(words[start + 40 * i:start + 40 * (i + 1)]) for i in range(n)]
    return {"skewed": skewed, "uniform": uniform}


def real_gflop(lengths, layers=6, hidden=384, inter=1536):
    """The FLOPs of the real tokens alone (2 per multiply-add: projections, feed-forward,
    and each text's attention over its own tokens), in GFLOP."""
    h, i = float(hidden), float(inter)
    return sum(layers * (8 * n * h * h + 4 * n * h * i + 4 * n * n * h) for n in lengths) / 1e9


def write_jsonl(texts, path):
    with open(path, "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")


# ---- engines, each in its own process ---------------------------------------------------

def token_lengths(texts, model_dir):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.enable_truncation(MAX_TOKENS)
    tok.no_padding()  # the file pads to 128; the engines pad per batch themselves
    return [len(e.ids) for e in tok.encode_batch(texts)]


def engine_st(texts, model_dir, threads):
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(threads)
    model = SentenceTransformer(model_dir, device="cpu")
    model.max_seq_length = MAX_TOKENS
    t0 = time.perf_counter()
    emb = model.encode(texts, batch_size=32, convert_to_numpy=True)
    with open(os.devnull, "w") as f:
        for row in emb:
            f.write(json.dumps({"embedding": [float(x) for x in row]}) + "\n")
    seconds = time.perf_counter() - t0
    # what it computed: batches of 32 in its order (longest text in characters first)
    lens = token_lengths(texts, model_dir)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    computed = sum(len(order[b:b + 32]) * max(lens[i] for i in order[b:b + 32])
                   for b in range(0, len(order), 32))
    return seconds, sum(lens), computed


def export_onnx(model_dir, path):
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.m(input_ids=input_ids, attention_mask=attention_mask,
                       token_type_ids=token_type_ids).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(e, p=2, dim=1)

    # eager attention: the pattern ORT's optimizer fuses (as bench/prepare.py exports)
    model = Pooled(AutoModel.from_pretrained(model_dir, attn_implementation="eager",
                                             dtype=torch.float32)).eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    dyn = {0: "batch", 1: "seq"}
    with torch.inference_mode():
        torch.onnx.export(model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), path,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["embedding"], opset_version=17, dynamo=False,
                          do_constant_folding=True,
                          dynamic_axes={"input_ids": dyn, "attention_mask": dyn,
                                        "token_type_ids": dyn, "embedding": {0: "batch"}})


def engine_ort(texts, model_dir, threads, onnx_path):
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.enable_truncation(MAX_TOKENS)
    tok.no_padding()
    t0 = time.perf_counter()
    enc = tok.encode_batch(texts)
    order = sorted(range(len(texts)), key=lambda i: len(enc[i].ids))
    out = [None] * len(texts)
    computed = 0
    for b in range(0, len(order), 32):
        idx = order[b:b + 32]
        seq = max(len(enc[i].ids) for i in idx)
        ids = np.zeros((len(idx), seq), dtype=np.int64)
        mask = np.zeros_like(ids)
        for r, i in enumerate(idx):
            n = len(enc[i].ids)
            ids[r, :n] = enc[i].ids
            mask[r, :n] = 1
        emb = sess.run(None, {"input_ids": ids, "attention_mask": mask,
                              "token_type_ids": np.zeros_like(ids)})[0]
        for r, i in enumerate(idx):
            out[i] = emb[r]
        computed += len(idx) * seq
    with open(os.devnull, "w") as f:
        for row in out:
            f.write(json.dumps({"embedding": [float(x) for x in row]}) + "\n")
    seconds = time.perf_counter() - t0
    return seconds, sum(len(e.ids) for e in enc), computed


def child(args):
    with open(args.child_input) as f:
        texts = [json.loads(line)["text"] for line in f]
    if args.child == "st":
        r = engine_st(texts, args.model_dir, args.threads)
    else:
        r = engine_ort(texts, args.model_dir, args.threads, args.onnx)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": r[0], "real": r[1], "computed": r[2], "peak_rss_kb": rss}))


def run_process(cmd, env, stdout):
    """Runs one engine process to its end: (stderr text, its peak RSS in KiB). The peak is
    GNU time's: a process forked from this (large) one would report this one's pages too."""
    rss_file = os.path.join(os.path.dirname(os.path.abspath(stdout.name)) if stdout.name !=
                            os.devnull else "/tmp", f"rss-{os.getpid()}.txt")
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd, stdout=stdout,
                       stderr=subprocess.PIPE, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    with open(rss_file) as f:
        rss = int(f.read().split()[-1])
    os.unlink(rss_file)
    return p.stderr, rss


def run_child(cmd, env, out_path):
    with open(out_path, "w") as out:
        _, rss = run_process(cmd, env, out)
    with open(out_path) as f:
        r = json.loads(f.read().strip().splitlines()[-1])
    r["peak_rss_kb"] = rss
    return r


def run_bertc(bertc, so, path, threads, packing, env):
    cmd = [bertc, "run", so, "--input", path, "--stats", "--threads", str(threads),
           "--packing", packing]
    t0 = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        err, rss = run_process(cmd, env, devnull)
    seconds = time.perf_counter() - t0
    stats = json.loads([line for line in err.splitlines() if line.startswith("{")][-1])
    return {"seconds": seconds, "real": stats["real_tokens"], "computed": stats["computed_tokens"],
            "peak_rss_kb": rss}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--texts", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--build", default=os.path.join(os.path.dirname(REPO), "build-bench"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--cache", default=os.path.join(HERE, ".cache", "throughput"))
    ap.add_argument("--engines", default="st,ort,padded,packed")
    ap.add_argument("--memory", default="", help="corpus sizes for bertc packed's peak memory")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-input", help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--onnx", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)

    os.makedirs(args.cache, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    model_dir = minilm_dir()
    bertc = os.path.join(args.build, "tools", "bertc")
    env = thread_env(args.threads)
    engines = args.engines.split(",")
    so = os.path.join(args.cache, "minilm.so")
    compile_info = {}
    if "padded" in engines or "packed" in engines or args.memory:
        for name, extra in (("minilm-nopack.so", ["--token-buckets", "none"]), ("minilm.so", [])):
            t0 = time.perf_counter()
            subprocess.run([bertc, "compile", model_dir, "-o", os.path.join(args.cache, name),
                            "-q"] + extra, check=True, env=env)
            compile_info[name] = {"seconds": round(time.perf_counter() - t0, 2),
                                  "bytes": os.path.getsize(os.path.join(args.cache, name))}
    onnx = os.path.join(args.cache, "minilm-pooled.ort.onnx")
    if "ort" in engines and not os.path.exists(onnx):
        # exported, then fused by ORT's transformer optimizer as bench/prepare.py does
        from prepare import optimize_ort
        raw = os.path.join(args.cache, "minilm-pooled.onnx")
        export_onnx(model_dir, raw)
        optimize_ort(raw, onnx, 12, 384, {})

    corpora = make_corpora(args.texts)
    results, gflop = {}, {}
    for cname, texts in corpora.items():
        path = os.path.join(args.cache, f"{cname}-{args.texts}.jsonl")
        write_jsonl(texts, path)
        gflop[cname] = real_gflop(token_lengths(texts, model_dir))
        for e in engines:
            if e in ("st", "ort"):
                r = run_child([sys.executable, os.path.abspath(__file__), "--child", e,
                               "--child-input", path, "--model-dir", model_dir,
                               "--threads", str(args.threads), "--onnx", onnx], env,
                              os.path.join(args.cache, "child.json"))
            else:
                r = run_bertc(bertc, so, path, args.threads, "never" if e == "padded" else "auto",
                              env)
            r["texts_per_s"] = len(texts) / r["seconds"]
            r["gflops"] = gflop[cname] / r["seconds"]
            results[(cname, e)] = r
            print(f"{cname:8} {e:7} {r['texts_per_s']:8.1f} texts/s  computed/real "
                  f"{r['computed'] / r['real']:.3f}  peak {r['peak_rss_kb'] / 1024:.0f} MiB",
                  flush=True)

    lines = [f"# bench/throughput.py --texts {args.texts} --threads {args.threads} "
             f"(CPU shared with other jobs: ratios from one run)", "",
             "| corpus | engine | texts/s | x ORT | computed / real tokens | real GFLOP/s | "
             "peak RSS MiB |",
             "|---|---|---|---|---|---|---|"]
    for (cname, e), r in results.items():
        ort = results.get((cname, "ort"))
        ratio = f"{r['texts_per_s'] / ort['texts_per_s']:.2f}" if ort else "-"
        lines.append(f"| {cname} | {e} | {r['texts_per_s']:.1f} | {ratio} | "
                     f"{r['computed'] / r['real']:.3f} | {r['gflops']:.1f} | "
                     f"{r['peak_rss_kb'] / 1024:.0f} |")
    mem = []
    for n in [int(x) for x in args.memory.split(",") if x]:
        texts = (corpora["skewed"] * (n // len(corpora["skewed"]) + 1))[:n]
        path = os.path.join(args.cache, f"skewed-x{n}.jsonl")
        write_jsonl(texts, path)
        r = run_bertc(bertc, so, path, args.threads, "auto", env)
        mem.append((n, r))
        os.unlink(path)
        print(f"memory: {n} texts, peak {r['peak_rss_kb'] / 1024:.0f} MiB, "
              f"{n / r['seconds']:.1f} texts/s", flush=True)
    if mem:
        lines += ["", "| bertc packed, skewed texts | peak RSS MiB | texts/s |", "|---|---|---|"]
        lines += [f"| {n} | {r['peak_rss_kb'] / 1024:.0f} | {n / r['seconds']:.1f} |"
                  for n, r in mem]
    if compile_info:
        lines += ["", "| .so | compile s | bytes |", "|---|---|---|"]
        lines += [f"| {k} | {v['seconds']} | {v['bytes']} |" for k, v in compile_info.items()]
    stamp = time.strftime("%Y-%m-%d_%H%M%S")
    report = os.path.join(args.out, f"{stamp}-throughput.md")
    with open(report, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {report}")


if __name__ == "__main__":
    main()
