#!/usr/bin/env python3
"""What a .so with several code variants costs and whether each variant is as
fast as a .so compiled for that target alone.

Compiles one model (default all-MiniLM-L6-v2) once per single target and once
per target list, prints each .so's size and compile time, then times every
variant the host runs with `bertc bench` (--variant picks one inside a
multi-target .so), alternating between the files round after round in rotated
order, and prints the median of the per-round medians and the ratio of each
variant to its single-target .so (> 1: the variant is slower), on median and
on minimum latency (the minimum is less sensitive to other processes).
--reuse keeps .so files already compiled into --cache (sizes are printed,
compile times are not).

Usage: bench/variants.py --bertc BUILD/tools/bertc [--model DIR] [--seqs 16,128]
                         [--threads 1] [--rounds 5] [--iters 30] [--cache DIR] [--reuse]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SINGLE = ["x86-64-v3", "x86-64-v4", "native"]
LISTS = ["portable", "x86-64-v3,x86-64-v4,native"]


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bertc", required=True)
    ap.add_argument("--model", default=None, help="model dir (default: all-MiniLM-L6-v2)")
    ap.add_argument("--seqs", default="16,128")
    ap.add_argument("--bucket-seqs", default="16,32,64,128,256")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--cache", default=os.path.join(here, ".cache", "variants"))
    ap.add_argument("--reuse", action="store_true")
    a = ap.parse_args()
    model = a.model or run([os.path.join(here, "..", "scripts", "minilm-dir.sh")]).strip()
    os.makedirs(a.cache, exist_ok=True)

    files = {}
    print(f"{'targets':<30} {'size MB':>9} {'compile s':>10}")
    for targets in SINGLE + LISTS:
        so = os.path.join(a.cache, targets.replace(",", "+") + ".so")
        secs = "reused"
        if not (a.reuse and os.path.exists(so)):
            t = time.monotonic()
            run([a.bertc, "compile", model, "-o", so, "--target-cpu", targets, "--seq-lens",
                 a.bucket_seqs, "--threads", str(a.threads), "-q"])
            secs = f"{time.monotonic() - t:.1f}"
        files[targets] = so
        print(f"{targets:<30} {os.path.getsize(so) / 1e6:9.2f} {secs:>10}", flush=True)

    info = json.loads(run([a.bertc, "inspect", files["native"], "--json"]))
    native_cpu = info["target_cpu"]
    # (label, .so, --variant, the single-target .so it is compared with)
    configs = []
    for targets in SINGLE:
        configs.append((targets, files[targets], None, None))
    for lst in LISTS:
        variants = json.loads(run([a.bertc, "inspect", files[lst], "--json"]))["variants"]
        for v in variants:
            cpu = v["target_cpu"]
            single = "native" if cpu == native_cpu else cpu
            configs.append((f"{lst} [{cpu}]", files[lst], cpu, single))

    runnable = []
    for c in configs:
        cmd = [a.bertc, "bench", c[1], "--iters", "1", "--warmup", "0", "--seq", "16"]
        if c[2]:
            cmd += ["--variant", c[2]]
        if subprocess.run(cmd, capture_output=True).returncode == 0:
            runnable.append(c)
        else:
            print(f"not run here: {c[0]}")

    seqs = [int(s) for s in a.seqs.split(",")]
    times = {(c[0], s): [] for c in runnable for s in seqs}
    mins = {(c[0], s): [] for c in runnable for s in seqs}
    for r in range(a.rounds):
        for s in seqs:
            order = runnable[r % len(runnable):] + runnable[:r % len(runnable)]
            for label, so, variant, _ in order:
                cmd = [a.bertc, "bench", so, "--seq", str(s), "--threads", str(a.threads),
                       "--iters", str(a.iters), "--warmup", "5", "--json"]
                if variant:
                    cmd += ["--variant", variant]
                res = json.loads(run(cmd))
                times[(label, s)].append(res["median_ms"])
                mins[(label, s)].append(res["min_ms"])

    for what, data in (("median", times), ("minimum", mins)):
        print(f"\n{a.threads} thread(s), {a.rounds} rounds x {a.iters} runs; median over the "
              f"rounds of each round's {what} latency in ms; ratio = variant / single-target .so")
        print(f"{'':<44}" + "".join(f"{'seq ' + str(s):>18}" for s in seqs))
        med = {k: statistics.median(v) for k, v in data.items()}
        for label, _, _, single in runnable:
            row = f"{label:<44}"
            for s in seqs:
                m = med[(label, s)]
                if single and (single, s) in med:
                    row += f"{m:10.3f} {m / med[(single, s)]:6.3f}x "
                else:
                    row += f"{m:10.3f}        "
            print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
