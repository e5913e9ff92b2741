#!/usr/bin/env python3
"""bertc against its peers, in one run on one machine. See bench/README.md.

  python3 bench/run.py [--quick] [--models minilm,bert-base] [--threads 1,2] [--out bench/results]

Steps: build bertc (incremental Release build), measure this machine's fp32 FMA
peak (bench/peak.c), prepare each model (bench/prepare.py: random BERT-base
checkpoint, ONNX export, ORT transformer optimizer, OpenVINO IR, torch
reference), compile it with bertc (timed), check numerics and cold start
(bench/coldstart.c and `engines.py cold`, one fresh process each), then the
latency grid: for every model and thread count the peers run as long-lived
worker processes (one per engine, so thread pools never share a process),
bertc runs as `bertc bench` processes, and every shape is measured engine
after engine, so all engines see the same machine load. Output: a table on
stdout, OUT/<stamp>.json, OUT/<stamp>.png, OUT/<stamp>.txt, logs in
OUT/<stamp>-logs/.

Nothing here asserts on timings; this is not a test.
"""

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from common import encoder_gflop, thread_env  # noqa: E402

ENGINES = ["bertc", "bertc-omp", "bertc-amx", "bertc-int8", "ort", "ort-int8", "torch", "openvino", "bertc-blas"]
PEERS = ["bertc-omp", "bertc-amx", "bertc-int8", "ort", "ort-int8", "torch", "openvino", "bertc-blas"]
LABEL = {"bertc": "bertc", "bertc-omp": "bertc OpenMP", "bertc-amx": "bertc AMX", "bertc-int8": "bertc int8",
         "ort": "ORT", "ort-int8": "ORT int8", "torch": "torch", "openvino": "OpenVINO", "bertc-blas": "bertc+BLAS"}
# bertc-int8: the model compiled with `--precision int8` (int8 linear layers and word embeddings);
# ort-int8: onnxruntime.quantization.quantize_dynamic of ORT's optimized model (prepare.py --ort-int8).
# Their outputs are compared with the fp32 torch reference by cosine (numerics), and the int8 speed-ups
# are reported against ORT int8, ORT fp32 and bertc fp32.
INT8_VS = ["ort-int8", "ort", "bertc"]
# bertc-omp: the bertc .so run with `bertc bench --threading openmp` (the model's loops as OpenMP
# parallel regions on libomp instead of the context's own thread pool); outputs are bit-identical,
# so it has no cold start or numerics of its own.
# bertc-amx: the same model compiled with `--gemm amx` (linear layers of large buckets on AMX tiles,
# exact to fp32 rounding); only on hosts with AMX-BF16. Its own speed-ups over the peers are reported too.
EXTERNAL_PEERS = ["ort", "ort-int8", "torch", "openvino"]


def host_has_amx():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return all(f in flags for f in ("amx_tile", "amx_bf16", "avx512_bf16"))

FULL_GRID = [(1, s) for s in (8, 16, 32, 64, 128, 256, 512)] + [(8, 128), (32, 128)]
QUICK_GRID = [(1, 16), (1, 128), (8, 128)]

MODELS = {
    # name: (how to get the HF directory, max_seq_length for the model.json)
    "minilm": "minilm",
    "bert-base": "bert-base",
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def wait_rusage(p):
    """Reaps p and returns (exit code, peak RSS in KiB) of that one child."""
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru.ru_maxrss


def stats(times):
    t = sorted(times)
    n = len(t)
    return {"n": n, "min_ms": t[0], "median_ms": t[n // 2], "p90_ms": t[min(n - 1, (n * 9) // 10)],
            "mean_ms": sum(t) / n}


def iters_for(gflop, quick):
    """Timed iterations and warm-up runs for one shape (same for every engine)."""
    if quick:
        return (5, 1) if gflop < 8 else (3, 1) if gflop < 50 else (2, 1)
    return (20, 3) if gflop < 8 else (10, 2) if gflop < 50 else (5, 1)


# ----------------------------------------------------------------------------- machine


def machine_info():
    info = {"platform": platform.platform(), "python": platform.python_version(), "nproc": os.cpu_count()}
    try:
        for line in sh(["lscpu"]).splitlines():
            k, _, v = line.partition(":")
            if k.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "L2 cache", "L3 cache", "Hypervisor vendor"):
                info[k.strip()] = v.strip()
            if k.strip() == "Flags":
                fl = v.split()
                info["isa"] = [f for f in fl if f.startswith(("avx512", "amx", "avx2", "fma", "avx_vnni"))]
    except (OSError, subprocess.CalledProcessError):
        pass
    info["loadavg_start"] = os.getloadavg()
    info["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE")
    try:
        info["git"] = sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]).strip()
        info["git_dirty_files"] = len(sh(["git", "-C", REPO, "status", "--porcelain"]).splitlines())
    except (OSError, subprocess.CalledProcessError):
        pass
    vers = {}
    for mod in ("torch", "transformers", "onnxruntime", "onnx", "openvino", "numpy"):
        try:
            out = sh([sys.executable, "-c", "import %s; print(%s.__version__)" % (mod, mod)])
            vers[mod] = out.strip()
        except (OSError, subprocess.CalledProcessError):
            vers[mod] = None
    info["versions"] = vers
    return info


def build_bertc(build, no_build, logdir):
    bertc = os.path.join(build, "tools", "bertc")
    if not no_build:
        log("building bertc (Release) in %s" % build)
        t = time.time()
        for cmd in (["cmake", "-S", REPO, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DBERTC_WERROR=OFF",
                     "-DBERTC_BUILD_TESTS=OFF"],
                    ["cmake", "--build", build, "-j%d" % (os.cpu_count() or 2), "--target", "bertc",
                     "bertc_runtime"]):
            r = subprocess.run(cmd, capture_output=True, text=True)
            with open(os.path.join(logdir, "build.log"), "a") as f:
                f.write("$ %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
            if r.returncode:
                sys.stderr.write((r.stdout + r.stderr)[-4000:])
                sys.exit("building bertc failed (log: %s)" % os.path.join(logdir, "build.log"))
        log("  built in %.0f s" % (time.time() - t))
    if not os.access(bertc, os.X_OK):
        sys.exit("no bertc at %s (build it or drop --no-build)" % bertc)
    return bertc


def build_helpers(build, work):
    """peak (fp32 FMA peak) and coldstart (bertc cold start) into work/."""
    os.makedirs(work, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    peak = os.path.join(work, "peak")
    isa = None
    for flags, name in ((["-mavx512f", "-mfma"], "avx512"), (["-mavx2", "-mfma"], "avx2")):
        r = subprocess.run([cc, "-O2", *flags, os.path.join(HERE, "peak.c"), "-o", peak, "-lpthread"],
                           capture_output=True, text=True)
        if r.returncode == 0:
            # Is the ISA usable here? (the binary runs only if the CPU has it)
            if subprocess.run([peak, "1", "0.01", "1"], capture_output=True).returncode == 0:
                isa = name
                break
    if not isa:
        sys.exit("could not build bench/peak.c")
    cold = os.path.join(work, "coldstart")
    subprocess.run([cc, "-O2", "-I", REPO, "-I", os.path.join(REPO, "include"),
                    os.path.join(HERE, "coldstart.c"), os.path.join(build, "runtime", "libbertc_runtime.a"),
                    os.path.join(build, "tokenizer", "libbertc_tokenizer.a"), os.path.join(build, "base", "libbertc_base.a"),
                    "-pthread", "-ljansson", "-lutf8proc", "-ldl", "-lm", "-o", cold], check=True)
    return peak, isa, cold


def measure_peak(peak, threads_list, samples, when):
    """Best of many short windows: on a shared machine a short window is likelier to find
    the cores free, and a long one only averages in the other processes."""
    for t in threads_list:
        r = json.loads(sh([peak, str(t), "0.02", "50"]))
        r["when"] = when
        samples.setdefault(t, []).append(r)


# ----------------------------------------------------------------------------- models


def prepare_model(name, cache, engines):
    out = os.path.join(cache, name)
    minilm = sh([os.path.join(REPO, "scripts", "minilm-dir.sh")]).strip()
    cmd = [sys.executable, os.path.join(HERE, "prepare.py"), "--name", name, "--src", minilm, "--out", out]
    if name == "bert-base":
        cmd.append("--random-bert-base")
    if "openvino" in engines:
        cmd.append("--openvino")
    if "ort-int8" in engines:
        cmd.append("--ort-int8")
    log("preparing %s (export, ORT optimizer, OpenVINO IR, torch reference)" % name)
    env = dict(os.environ, TRANSFORMERS_VERBOSITY="error", HF_HUB_OFFLINE="1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    with open(os.path.join(out, "prepare.log"), "w") as f:
        f.write(r.stderr)
    if r.returncode:
        sys.stderr.write(r.stderr[-4000:])
        raise RuntimeError("prepare %s failed" % name)
    info = json.loads(r.stdout.strip().splitlines()[-1])
    with open(os.path.join(info["hf_dir"], "config.json")) as f:
        info["config"] = json.load(f)
    info["cache"] = out
    return info


def compile_bertc(bertc, info, grid, logdir, extra=(), suffix=""):
    """model.json with the grid's buckets, then `bertc compile` (plus `extra` options), timed."""
    name = info["key"]["name"]
    cfg = info["config"]
    seqs = sorted({s for _, s in grid})
    batches = sorted({b for b, _ in grid})
    spec = {"name": name.replace("-", "_"), "checkpoint": info["hf_dir"],
            # MiniLM's sentence_bert_config says 256 (sentence-transformers' truncation length);
            # its 512 positions allow the grid's S=512, so the bench raises the limit to them.
            "max_seq_length": cfg.get("max_position_embeddings", 512),
            "seq_lens": seqs, "batch_sizes": batches}
    mj = os.path.join(info["cache"], "model.json")
    with open(mj, "w") as f:
        json.dump(spec, f, indent=1)
    so = os.path.join(info["cache"], "%s%s.so" % (name, suffix))
    if os.path.exists(so):
        os.remove(so)
    log("bertc compile %s%s (seq %s, batch %s)" % (name, " " + " ".join(extra) if extra else "", seqs, batches))
    t = time.perf_counter()
    r = subprocess.run([bertc, "compile", mj, "-o", so, *extra], capture_output=True, text=True)
    wall = time.perf_counter() - t
    with open(os.path.join(logdir, "compile-%s%s.log" % (name, suffix)), "w") as f:
        f.write(r.stdout + r.stderr)
    if r.returncode:
        sys.stderr.write(r.stderr[-3000:])
        raise RuntimeError("bertc compile %s failed" % name)
    phases = {}
    for line in r.stderr.splitlines():
        if line.startswith("bertc compile:") and line.rstrip().endswith(" s"):
            parts = line[len("bertc compile:"):].rsplit(None, 2)
            try:
                phases[parts[0].strip()] = float(parts[1])
            except (ValueError, IndexError):
                pass
    log("  %.1f s, %.0f MB" % (wall, os.path.getsize(so) / 1e6))
    return so, {"wall_s": wall, "phases_s": phases, "so_bytes": os.path.getsize(so), "model_json": spec}


# ----------------------------------------------------------------------------- cold start


def cold_start(engine, info, so, coldstart, threads, out_prefix, logf):
    """Wall time from spawning the process to its first result line; peak RSS of that process."""
    if engine.startswith("bertc"):
        cmd = [coldstart, so, "128", "1", str(threads), out_prefix]
    else:
        cmd = [sys.executable, os.path.join(HERE, "engines.py"), "cold", engine, info["cache"], str(threads),
               "128", "1", out_prefix + ".npy"]
    env = thread_env(threads)
    env.update(TRANSFORMERS_VERBOSITY="error", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=logf, text=True, env=env)
    first = None
    res = {}
    for line in p.stdout:
        if first is None and '"done"' in line:
            first = time.perf_counter() - t0
            res = json.loads(line)
    p.stdout.close()
    rc, rss = wait_rusage(p)
    if rc or first is None:
        return {"error": "exit %d" % rc}
    return {"cold_start_ms": first * 1e3, "peak_rss_kb": rss, "child": res}


def load_outputs(engine, prefix):
    import numpy as np

    if engine.startswith("bertc"):
        out = {}
        for f in os.listdir(os.path.dirname(prefix)):
            base = os.path.basename(prefix) + "."
            if f.startswith(base) and f.endswith(".f32"):
                out[f[len(base):-4]] = np.fromfile(os.path.join(os.path.dirname(prefix), f), dtype=np.float32)
        return out
    return {"last_hidden_state": np.load(prefix + ".npy").reshape(-1)}


def numerics(engine, outs, ref):
    """max |engine - torch| on last_hidden_state, or on the sentence embedding for bertc's embedding models."""
    import numpy as np

    for key, refkey in (("last_hidden_state", "last_hidden_state"), ("sentence_embedding", "embedding"),
                        ("embedding", "embedding")):
        if key in outs:
            a, b = outs[key], ref[refkey].reshape(-1)
            if a.size != b.size:
                return {"error": "%s has %d values, torch %d" % (key, a.size, b.size)}
            d = np.abs(a - b)
            # cosine per row (token or sentence) of the output, to the fp32 reference
            w = ref[refkey].shape[-1]
            ra, rb = a.reshape(-1, w).astype(np.float64), b.reshape(-1, w).astype(np.float64)
            cos = (ra * rb).sum(1) / np.maximum(np.linalg.norm(ra, axis=1) * np.linalg.norm(rb, axis=1), 1e-30)
            return {"output": key, "vs": "torch " + refkey, "max_abs_diff": float(d.max()),
                    "mean_abs_diff": float(d.mean()), "max_abs_ref": float(np.abs(b).max()),
                    "cos_mean": float(cos.mean()), "cos_min": float(cos.min())}
    return {"error": "no comparable output (have %s)" % sorted(outs)}


# ----------------------------------------------------------------------------- grid


class Worker:
    def __init__(self, engine, cache, threads, logf):
        env = thread_env(threads)
        env.update(TRANSFORMERS_VERBOSITY="error", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
        self.engine = engine
        self.p = subprocess.Popen([sys.executable, os.path.join(HERE, "engines.py"), "serve", engine, cache,
                                   str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf,
                                  text=True, env=env, bufsize=1)
        self.ready = self._read()
        self.error = None if self.ready else "worker did not start (see logs)"

    def _read(self):
        line = self.p.stdout.readline()
        return json.loads(line) if line else None

    def request(self, req):
        if self.error:
            return None
        try:
            self.p.stdin.write(json.dumps(req) + "\n")
            self.p.stdin.flush()
            r = self._read()
        except (BrokenPipeError, OSError):
            r = None
        if r is None:
            self.error = "worker died (see logs)"
        return r

    def close(self):
        hwm = None
        if not self.error:
            r = self.request({"cmd": "quit"})
            hwm = r and r.get("vmhwm_kb")
        try:
            self.p.stdin.close()
        except OSError:
            pass
        _, rss = wait_rusage(self.p)
        return {"vmhwm_kb": hwm, "maxrss_kb": rss}


def bertc_bench(bertc, so, batch, seq, threads, iters, warmup, logf, threading="pool"):
    cmd = [bertc, "bench", so, "--seq", str(seq), "--batch", str(batch), "--threads", str(threads),
           "--threading", threading, "--iters", str(iters), "--warmup", str(warmup), "--json"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=logf, text=True, env=thread_env(threads))
    out = p.stdout.read()
    p.stdout.close()
    rc, rss = wait_rusage(p)
    if rc:
        return None, rss
    r = json.loads(out.strip().splitlines()[-1])
    return r, rss


def run_grid(model, info, sos, bertc, threads, grid, quick, engines, logdir, rounds=1):
    """sos: the compiled .so of each bertc variant ("bertc", "bertc-amx", "bertc-blas")."""
    cfg = info["config"]
    L, H, I = cfg["num_hidden_layers"], cfg["hidden_size"], cfg["intermediate_size"]
    logf = open(os.path.join(logdir, "grid-%s-t%d.log" % (model, threads)), "a")
    workers, meta = {}, {}
    for e in engines:
        if e.startswith("bertc"):
            continue
        log("  starting %s worker (%d thread%s)" % (e, threads, "s" if threads > 1 else ""))
        w = Worker(e, info["cache"], threads, logf)
        workers[e] = w
        meta[e] = w.ready if w.ready else {"error": w.error}
    rows = []
    bertc_rss = {e: 0 for e in engines if e.startswith("bertc")}
    for k, (batch, seq) in enumerate(grid):
        gflop = encoder_gflop(L, H, I, seq, batch)
        iters, warmup = iters_for(gflop, quick)
        row = {"batch": batch, "seq": seq, "gflop": gflop, "iters": iters, "warmup": warmup, "engines": {}}
        per_round = {e: [] for e in engines}
        for rnd in range(rounds):
            j = k + rnd
            order = engines[j % len(engines):] + engines[:j % len(engines)]  # rotate who goes first
            for e in order:
                time.sleep(0.2)  # let the previous engine's spinning threads go idle
                if e.startswith("bertc"):
                    r, rss = bertc_bench(bertc, sos[e], batch, seq, threads, iters, warmup, logf,
                                         "openmp" if e == "bertc-omp" else "pool")
                    bertc_rss[e] = max(bertc_rss[e], rss)
                    if r is None:
                        per_round[e].append({"error": "bertc bench failed (see logs)"})
                    else:
                        per_round[e].append({"n": iters, "min_ms": r["min_ms"], "median_ms": r["median_ms"],
                                             "p90_ms": r["p90_ms"], "bucket_seq": r.get("bucket_seq"),
                                             "threads_reported": r.get("threads")})
                else:
                    r = workers[e].request({"cmd": "run", "batch": batch, "seq": seq, "warmup": warmup,
                                            "iters": iters})
                    per_round[e].append(stats(r["times_ms"]) if r else {"error": workers[e].error})
        for e in engines:
            ok = [x for x in per_round[e] if "median_ms" in x]
            if not ok:
                row["engines"][e] = per_round[e][0]
                continue
            # One round: that round's numbers. Several: the median of the rounds' medians, the
            # smallest min, the median p90; every round is kept in "rounds".
            meds = sorted(x["median_ms"] for x in ok)
            p90s = sorted(x["p90_ms"] for x in ok)
            cell = dict(ok[0])
            cell.update(median_ms=meds[len(meds) // 2], min_ms=min(x["min_ms"] for x in ok),
                        p90_ms=p90s[len(p90s) // 2], n=sum(x["n"] for x in ok))
            if rounds > 1:
                cell["rounds"] = ok
            row["engines"][e] = cell
        line = "  b=%-2d S=%-3d %7.2f GFLOP  " % (batch, seq, gflop) + "  ".join(
            "%s %.2f" % (LABEL[e], row["engines"][e]["median_ms"]) if "median_ms" in row["engines"][e]
            else "%s ERR" % LABEL[e] for e in engines)
        log(line)
        rows.append(row)
    mem = {e: {"maxrss_kb": rss} for e, rss in bertc_rss.items()}
    for e, w in workers.items():
        mem[e] = w.close()
    logf.close()
    return {"rows": rows, "worker_meta": meta, "grid_memory": mem}


# ----------------------------------------------------------------------------- report


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def fmt(x, f="%.2f", w=8):
    return (f % x).rjust(w) if x is not None else "-".rjust(w)


def report(res):
    out = []
    p = out.append
    m = res["machine"]
    p("bertc bench  %s  %s, %d round%s  (%s)" % (res["stamp"], "QUICK" if res["quick"] else "full", res["rounds"],
                                                "s" if res["rounds"] > 1 else "", m.get("Model name", "?")))
    p("git %s (%s uncommitted files)  torch %s  transformers %s  onnxruntime %s  openvino %s" % (
        m.get("git"), m.get("git_dirty_files"), m["versions"].get("torch"), m["versions"].get("transformers"),
        m["versions"].get("onnxruntime"), (m["versions"].get("openvino") or "").split("-")[0]))
    if res.get("extra_env"):
        p("extra environment for every engine: %s" % " ".join(res["extra_env"]))
    p("load average at start %s, at end %s (other processes share this machine; compare ratios, not absolute times)"
      % (tuple(round(x, 1) for x in m["loadavg_start"]), tuple(round(x, 1) for x in m.get("loadavg_end", ()))))
    p("measured fp32 FMA peak (%s, best 20 ms window of all measurements in this run): %s" % (res["peak"]["isa"], ", ".join(
        "%d thread%s %.0f GFLOP/s" % (t, "s" if t > 1 else "", v) for t, v in sorted(res["peak"]["gflops"].items()))))
    p("")
    for model, mres in res["models"].items():
        c = mres["compile"]
        p("== %s: L=%d H=%d I=%d  bertc compile %.1f s (%d seq x %d batch buckets, .so %.0f MB)" % (
            model, mres["config"]["num_hidden_layers"], mres["config"]["hidden_size"],
            mres["config"]["intermediate_size"], c["wall_s"], len(c["model_json"]["seq_lens"]),
            len(c["model_json"]["batch_sizes"]), c["so_bytes"] / 1e6))
        if "compile_amx" in mres:
            p("   bertc --gemm amx: compile %.1f s, .so %.0f MB (large buckets' weights also as bf16 parts)" % (
                mres["compile_amx"]["wall_s"], mres["compile_amx"]["so_bytes"] / 1e6))
        if "compile_int8" in mres:
            p("   bertc --precision int8: compile %.1f s (accuracy probe included), .so %.0f MB" % (
                mres["compile_int8"]["wall_s"], mres["compile_int8"]["so_bytes"] / 1e6))
        p("   numerics at b=1 S=128 vs torch fp32: " + "; ".join(
            "%s %s max|d| %.2e cos mean %.5f min %.5f" % (LABEL[e], n.get("output", ""), n["max_abs_diff"],
                                                         n["cos_mean"], n["cos_min"]) if "max_abs_diff" in n
            else "%s %s" % (LABEL[e], n.get("error")) for e, n in mres["numerics"].items()))
        p("   ORT fused ops: %s" % ", ".join("%s %d" % (k, v) for k, v in
                                            mres["prepare"]["ort_optimizer"]["fused_operators"].items() if v))
        cs = mres["cold_start"]
        p("   cold start (spawn -> first result, b=1 S=128, %d threads, median of %d) and peak RSS:" % (
            mres["cold_threads"], mres["cold_reps"]))
        p("     " + "  ".join("%s %s ms / %s MB" % (
            LABEL[e], fmt(cs[e].get("cold_start_ms"), "%.0f", 0), fmt(
                cs[e]["peak_rss_kb"] / 1024 if cs[e].get("peak_rss_kb") else None, "%.0f", 0))
            for e in cs))
        for t, g in mres["grid"].items():
            peak = res["peak"]["gflops"][t]
            p("")
            p("-- %s, %d thread%s (peak %.0f GFLOP/s). ms = median latency; x = peer/bertc (>1: bertc faster); "
              "GF/s and %%pk of the measured peak" % (model, t, "s" if t > 1 else "", peak))
            hdr = " batch  seq   GFLOP |" + "|".join(
                ("%s" % LABEL[e]).center(27 if e != "bertc" else 22) for e in res["engines"])
            p(hdr)
            p("                     |" + "|".join(
                ("      ms   GF/s  %pk " if e == "bertc" else "      ms      x   GF/s  %pk ") for e in res["engines"]))
            for row in g["rows"]:
                cells = []
                b = row["engines"].get("bertc", {}).get("median_ms")
                for e in res["engines"]:
                    r = row["engines"].get(e, {})
                    ms = r.get("median_ms")
                    gfs = row["gflop"] / (ms * 1e-3) if ms else None
                    pk = 100 * gfs / peak if gfs else None
                    if e == "bertc":
                        cells.append(fmt(ms) + fmt(gfs, "%.1f", 7) + fmt(pk, "%.0f", 5) + " ")
                    else:
                        cells.append(fmt(ms) + fmt(ms / b if ms and b else None, "%.2f", 7) +
                                     fmt(gfs, "%.1f", 7) + fmt(pk, "%.0f", 5) + " ")
                p(" %5d %4d %7.2f |" % (row["batch"], row["seq"], row["gflop"]) + "|".join(cells))
            p("   geomean speed-up of bertc: " + ", ".join(
                "over %s %s" % (LABEL[e], fmt(g["geomean_speedup"].get(e), "%.2fx", 0)) for e in PEERS
                if e in res["engines"]))
            p("   (same on min latency, less sensitive to other processes: " + ", ".join(
                "over %s %s" % (LABEL[e], fmt(g["geomean_speedup_min_ms"].get(e), "%.2fx", 0)) for e in PEERS
                if e in res["engines"]) + ")")
            if "geomean_speedup_amx" in g:
                p("   geomean speed-up of bertc AMX (--gemm amx): " + ", ".join(
                    "over %s %s (min %s)" % (LABEL[e], fmt(g["geomean_speedup_amx"].get(e), "%.2fx", 0),
                                             fmt(g["geomean_speedup_amx_min_ms"].get(e), "%.2fx", 0))
                    for e in EXTERNAL_PEERS if e in g["geomean_speedup_amx"]))
            if "geomean_speedup_int8" in g:
                p("   geomean speed-up of bertc int8: " + ", ".join(
                    "over %s %s (min %s)" % (LABEL[e], fmt(g["geomean_speedup_int8"].get(e), "%.2fx", 0),
                                             fmt(g["geomean_speedup_int8_min_ms"].get(e), "%.2fx", 0))
                    for e in INT8_VS if e in g["geomean_speedup_int8"]))
            mem = g["grid_memory"]
            p("   peak RSS over the grid: " + ", ".join(
                "%s %s MB" % (LABEL[e], fmt((mem[e].get("maxrss_kb") or 0) / 1024, "%.0f", 0)) for e in mem))
        p("")
    for model, mres in res["models"].items():
        o = mres.get("openvino_precision")
        if o:
            p("OpenVINO precision (%s): hint read back %s; runtime node precisions %s; bf16 used: %s; this CPU's "
              "default hint would be %s" % (model, o["compiled_properties"].get("INFERENCE_PRECISION_HINT"),
                                            o["runtime_precision_histogram"], not o["no_bf16"],
                                            o["cpu_default_precision_hint"]))
    p("(%pk above 100 means no measurement window of the peak found the cores free; the ratios are unaffected)")
    return "\n".join(out)


def plot(res, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing: no plot")
        return None
    models = list(res["models"])
    threads = res["threads"]
    fig, axes = plt.subplots(len(models), len(threads), figsize=(6 * len(threads), 4.2 * len(models)),
                             squeeze=False)
    style = {"bertc": ("tab:red", "o"), "bertc-omp": ("salmon", "v"), "ort": ("tab:blue", "s"), "torch": ("tab:orange", "^"),
             "openvino": ("tab:purple", "D"), "bertc-blas": ("tab:gray", "x"), "bertc-amx": ("darkred", "*"),
             "bertc-int8": ("tab:green", "P"), "ort-int8": ("tab:cyan", "X")}
    for i, model in enumerate(models):
        for j, t in enumerate(threads):
            ax = axes[i][j]
            rows = [r for r in res["models"][model]["grid"][t]["rows"] if r["batch"] == 1]
            for e in res["engines"]:
                pts = [(r["seq"], r["engines"][e]["median_ms"]) for r in rows if "median_ms" in r["engines"].get(e, {})]
                if pts:
                    col, mk = style[e]
                    ax.plot([x for x, _ in pts], [y for _, y in pts], marker=mk, color=col, label=LABEL[e])
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("sequence length (batch 1)")
            ax.set_ylabel("median latency, ms")
            ax.set_title("%s, %d thread%s" % (model, t, "s" if t > 1 else ""))
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
    fig.suptitle("bertc vs peers, fp32, %s%s" % (res["stamp"], " (quick)" if res["quick"] else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


# ----------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: seq 16 and 128 at batch 1, batch 8 at 128, few iterations")
    ap.add_argument("--models", default="minilm,bert-base")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--engines", default=",".join(ENGINES), help="subset of " + ",".join(ENGINES))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--cache", default=os.path.join(HERE, ".cache"), help="models, exports, compiled .so (not committed)")
    ap.add_argument("--build", default=os.path.join(os.path.dirname(REPO), "build-bench"),
                    help="bertc build directory (default: ../build-bench next to the repo)")
    ap.add_argument("--no-build", action="store_true", help="use the existing build as it is")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for every engine's processes (repeatable), e.g. OMP_WAIT_POLICY=PASSIVE")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure every shape this many times, engine after engine in rotated order; "
                         "report the median of the rounds' medians (for noisy machines)")
    ap.add_argument("--cold-reps", type=int, default=None, help="cold-start repetitions per engine (default 3, quick 2)")
    a = ap.parse_args()

    models = [m.strip() for m in a.models.split(",") if m.strip()]
    for m in models:
        if m not in MODELS:
            sys.exit("unknown model %s (have %s)" % (m, ", ".join(MODELS)))
    threads = [int(t) for t in a.threads.split(",")]
    engines = [e for e in ENGINES if e in a.engines.split(",")]
    if "bertc-amx" in engines and not host_has_amx():
        log("this CPU has no AMX-BF16: bertc-amx is not measured")
        engines.remove("bertc-amx")
    if "bertc" not in engines:
        sys.exit("bertc must be among the engines (ratios are relative to it)")
    grid = QUICK_GRID if a.quick else FULL_GRID
    cold_reps = a.cold_reps or 3
    for kv in a.env:
        k, sep, v = kv.partition("=")
        if not sep:
            sys.exit("--env wants KEY=VALUE, got %s" % kv)
        os.environ[k] = v  # children inherit it through thread_env()
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H%M%S") + ("-quick" if a.quick else "")
    os.makedirs(a.out, exist_ok=True)
    logdir = os.path.join(a.out, stamp + "-logs")
    os.makedirs(logdir, exist_ok=True)
    os.makedirs(a.cache, exist_ok=True)
    t_start = time.time()

    res = {"stamp": stamp, "quick": a.quick, "extra_env": a.env, "rounds": a.rounds, "threads": threads, "engines": engines,
           "grid": [list(x) for x in grid], "machine": machine_info(), "models": {}}
    bertc = build_bertc(a.build, a.no_build, logdir)
    peak_bin, isa, coldstart = build_helpers(a.build, os.path.join(a.cache, "bin"))
    log("measuring the fp32 FMA peak (%s)" % isa)
    peak_samples = {}
    measure_peak(peak_bin, threads, peak_samples, "start")
    res["peak"] = {"isa": isa, "samples": peak_samples}

    for model in models:
        info = prepare_model(model, a.cache, engines)
        mres = {"config": {k: info["config"][k] for k in ("num_hidden_layers", "hidden_size", "intermediate_size",
                                                         "num_attention_heads", "vocab_size")},
                "prepare": {k: v for k, v in info.items() if k not in ("config", "key")}}
        so, mres["compile"] = compile_bertc(bertc, info, grid, logdir)
        sos = {"bertc": so, "bertc-omp": so}
        if "bertc-amx" in engines:
            sos["bertc-amx"], mres["compile_amx"] = compile_bertc(bertc, info, grid, logdir,
                                                                  ["--gemm", "amx"], "-amx")
        if "bertc-int8" in engines:
            sos["bertc-int8"], mres["compile_int8"] = compile_bertc(bertc, info, grid, logdir,
                                                                    ["--precision", "int8"], "-int8")
        if "bertc-blas" in engines:
            # the same model with every linear layer on OpenBLAS's sgemm instead of bertc's
            # kernels: the evidence for (or against) the default choice of kernel
            sos["bertc-blas"], mres["compile_blas"] = compile_bertc(bertc, info, grid, logdir,
                                                                    ["--gemm", "blas"], "-blas")

        # Cold start, peak RSS and numerics: fresh processes, b=1 S=128, the largest thread count.
        import numpy as np

        ref = dict(np.load(os.path.join(info["cache"], "ref_b1_s128.npz")))
        tcold = max(threads)
        mres["cold_threads"], mres["cold_reps"] = tcold, cold_reps
        mres["cold_start"], mres["numerics"] = {}, {}
        logf = open(os.path.join(logdir, "cold-%s.log" % model), "a")
        cold_engines = [e for e in engines if e != "bertc-omp"]
        runs = {e: [] for e in cold_engines}
        for rep in range(cold_reps):
            for e in cold_engines:
                prefix = os.path.join(a.cache, model, "out-%s" % e)
                r = cold_start(e, info, sos.get(e), coldstart, tcold, prefix, logf)
                runs[e].append(r)
                if rep == 0 and "error" not in r:
                    mres["numerics"][e] = numerics(e, load_outputs(e, prefix), ref)
                elif rep == 0:
                    mres["numerics"][e] = {"error": r["error"]}
        logf.close()
        for e in cold_engines:
            ok = [r for r in runs[e] if "error" not in r]
            if not ok:
                mres["cold_start"][e] = {"error": runs[e][0]["error"]}
                continue
            cs = sorted(r["cold_start_ms"] for r in ok)
            mres["cold_start"][e] = {"cold_start_ms": cs[len(cs) // 2], "all_ms": [r["cold_start_ms"] for r in ok],
                                     "peak_rss_kb": max(r["peak_rss_kb"] for r in ok),
                                     "child": ok[0]["child"]}
        log("%s numerics vs torch: %s" % (model, ", ".join(
            "%s %.2e" % (e, n["max_abs_diff"]) if "max_abs_diff" in n else "%s %s" % (e, n.get("error"))
            for e, n in mres["numerics"].items())))
        log("%s cold start ms: %s" % (model, ", ".join(
            "%s %.0f" % (e, c["cold_start_ms"]) for e, c in mres["cold_start"].items() if "cold_start_ms" in c)))

        mres["grid"] = {}
        for t in threads:
            log("grid %s, %d thread(s)" % (model, t))
            measure_peak(peak_bin, threads, peak_samples, "before grid %s t%d" % (model, t))
            g = run_grid(model, info, sos, bertc, t, grid, a.quick, engines, logdir, a.rounds)
            sp = {}
            for e in PEERS:
                if e in engines:
                    sp[e] = geomean([r["engines"][e]["median_ms"] / r["engines"]["bertc"]["median_ms"]
                                     for r in g["rows"] if "median_ms" in r["engines"].get(e, {})
                                     and "median_ms" in r["engines"].get("bertc", {})])
            g["geomean_speedup"] = sp
            g["geomean_speedup_min_ms"] = {
                e: geomean([r["engines"][e]["min_ms"] / r["engines"]["bertc"]["min_ms"] for r in g["rows"]
                            if "min_ms" in r["engines"].get(e, {}) and "min_ms" in r["engines"].get("bertc", {})])
                for e in sp}
            if "bertc-amx" in engines:
                g["geomean_speedup_amx"] = {
                    e: geomean([r["engines"][e]["median_ms"] / r["engines"]["bertc-amx"]["median_ms"]
                                for r in g["rows"] if "median_ms" in r["engines"].get(e, {})
                                and "median_ms" in r["engines"].get("bertc-amx", {})])
                    for e in EXTERNAL_PEERS if e in engines}
                g["geomean_speedup_amx_min_ms"] = {
                    e: geomean([r["engines"][e]["min_ms"] / r["engines"]["bertc-amx"]["min_ms"]
                                for r in g["rows"] if "min_ms" in r["engines"].get(e, {})
                                and "min_ms" in r["engines"].get("bertc-amx", {})])
                    for e in EXTERNAL_PEERS if e in engines}
            if "bertc-int8" in engines:
                for key, stat in (("geomean_speedup_int8", "median_ms"), ("geomean_speedup_int8_min_ms", "min_ms")):
                    g[key] = {e: geomean([r["engines"][e][stat] / r["engines"]["bertc-int8"][stat]
                                          for r in g["rows"] if stat in r["engines"].get(e, {})
                                          and stat in r["engines"].get("bertc-int8", {})])
                              for e in INT8_VS if e in engines}
            ovp = g["worker_meta"].get("openvino", {}).get("precision")
            if ovp:
                mres["openvino_precision"] = ovp
            mres["grid"][t] = g
        res["models"][model] = mres

    log("measuring the fp32 FMA peak again")
    measure_peak(peak_bin, threads, peak_samples, "end")
    res["peak"]["gflops"] = {t: max(r["best_gflops"] for r in peak_samples[t]) for t in threads}
    res["machine"]["loadavg_end"] = os.getloadavg()
    res["wall_s"] = time.time() - t_start

    text = report(res)
    print(text)
    base = os.path.join(a.out, stamp)
    with open(base + ".txt", "w") as f:
        f.write(text + "\n")
    with open(base + ".json", "w") as f:
        json.dump(res, f, indent=1, default=str)
    png = plot(res, base + ".png")
    log("wrote %s.json, %s.txt%s; logs in %s; %.0f s in all" % (
        base, base, ", " + png if png else "", logdir, res["wall_s"]))


if __name__ == "__main__":
    main()
