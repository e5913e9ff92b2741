"""Shared by bench/run.py, bench/prepare.py and bench/engines.py (stdlib + numpy only).

The token ids are the ones `bertc bench` generates (tools/cmd_bench.c): a
xorshift64 stream seeded with 88172645463325252, id = 100 + x % (vocab - 200),
row-major over batch * seq. Every engine gets exactly these ids, an attention
mask of all ones and token_type_ids of all zeros.
"""

import os

MASK64 = (1 << 64) - 1


def token_ids(batch, seq, vocab):
    """The ids `bertc bench --batch batch --seq seq` feeds, as a list of rows."""
    x = 88172645463325252
    mod = vocab - 200 if vocab > 200 else 1
    flat = []
    for _ in range(batch * seq):
        x ^= (x << 13) & MASK64
        x ^= x >> 7
        x ^= (x << 17) & MASK64
        flat.append(100 + x % mod)
    return [flat[b * seq:(b + 1) * seq] for b in range(batch)]


def encoder_gflop(layers, hidden, inter, seq, batch):
    """L * (8SH^2 + 4SHI + 4S^2H) * batch, in GFLOP: 2 per multiply-add of the projections,
    the feed-forward layers and the attention products (bench/README.md)."""
    s, h, i = float(seq), float(hidden), float(inter)
    return layers * (8 * s * h * h + 4 * s * h * i + 4 * s * s * h) * batch / 1e9


def vm_hwm_kb():
    """Peak resident set size of this process (VmHWM), in KiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def thread_env(threads, base=None):
    """Environment for a child that should use `threads` threads."""
    env = dict(os.environ if base is None else base)
    t = str(threads)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[k] = t
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Keep Python children quiet and deterministic.
    env["PYTHONHASHSEED"] = "0"
    return env
