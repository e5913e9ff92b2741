#!/usr/bin/env python3
"""Load benchmark of `bertc serve` against the embedding servers a user would
pick instead, side by side in one run: all-MiniLM-L6-v2 behind

  bertc     `bertc serve` on the compiled model (TEI's POST /embed)
  fastapi   sentence-transformers' SentenceTransformer.encode behind FastAPI on
            uvicorn (the common do-it-yourself server; a sync endpoint, so
            requests run on the threadpool)
  infinity  infinity-emb (`infinity_emb v2`, torch engine; POST /embeddings)

each with the same threads (torch.set_num_threads / OMP_NUM_THREADS; `bertc
serve --threads`). Clients: C threads of Python, each with its own keep-alive
connection, sending requests of 1 or 32 sentences back to back for --seconds
per point, at concurrency 1, 4, 16 and 64. Reported per point: texts/s, the
p50 / p99 request latency and the server's CPU time per text (its process tree's
user + system time: steadier than wall time on a machine shared with other
work), plus the ratios of bertc to each peer and, at each
concurrency, bertc serve's texts/s over the offline `bertc run --input` on the
same sentences (what batching leaves on the table). The clients run on the
same cores as the servers, the same for every server.

    python3 bench/serve.py                    # everything that installs here
    python3 bench/serve.py --peers bertc,fastapi --seconds 5 --threads 2
    python3 bench/serve.py --infinity-python /path/to/venv/bin/python

Not a test: nothing asserts on a timing. Needs a bertc build (--bertc, default
../build-bench or ./build), fastapi + uvicorn + sentence-transformers for the
fastapi peer (scripts/install-deps.sh --bench), infinity-emb for the infinity
peer (with a Python that has it: --infinity-python). infinity-emb pins older
sentence-transformers and numpy, so give it a virtual environment of its own:

    python3 -m venv --system-site-packages ~/infinity-venv
    ~/infinity-venv/bin/pip install "infinity-emb[server,torch]"
    python3 bench/serve.py --infinity-python ~/infinity-venv/bin/python
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORDS = ("the a of model server request batch token sentence embedding vector search "
         "query document answer question fast slow small large cpu core thread queue "
         "latency throughput compile kernel layer attention weight cache memory network "
         "client user data text language word meaning similar different result test "
         "run time second value number first last every other some many few").split()

FASTAPI_APP = '''
import os, torch
from fastapi import FastAPI
from pydantic import BaseModel
from sentence_transformers import SentenceTransformer
torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
model = SentenceTransformer(os.environ["BENCH_MODEL"], device="cpu")
app = FastAPI()
class Req(BaseModel):
    inputs: list[str]
@app.post("/embed")
def embed(req: Req):
    return model.encode(req.inputs, batch_size=32, normalize_embeddings=True).tolist()
@app.get("/health")
def health():
    return {"status": "ok"}
'''


def sentences(n: int, seed: int = 1) -> list[str]:
    """n sentences of 6 to 30 words (about 8 to 40 tokens), fixed by the seed."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 30))).capitalize() + "."
            for _ in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, path: str, proc: subprocess.Popen, timeout: float = 300) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the server did not answer in time")


class Peer:
    def __init__(self, name, cmd, env, port, health, path, body):
        self.name, self.cmd, self.env, self.port = name, cmd, env, port
        self.health, self.path, self.body = health, path, body
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        self.ready_s = wait_ready(self.port, self.health, self.proc)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants (/proc), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                stats[int(d)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
            except (OSError, IndexError, ValueError):
                pass
    tree, total, grew = {pid}, 0, True
    while grew:
        grew = False
        for p, (ppid, _) in stats.items():
            if ppid in tree and p not in tree:
                tree.add(p)
                grew = True
    for p in tree:
        total += stats.get(p, (0, 0))[1]
    return total / tick


def load(peer: Peer, texts: list[str], size: int, concurrency: int, seconds: float):
    """Clients sending `size`-sentence requests back to back: (texts/s, p50, p99 in ms,
    the server's CPU ms per text)."""
    lat: list[float] = []
    count = [0]
    errors = []
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def client(k):
        c = http.client.HTTPConnection("127.0.0.1", peer.port, timeout=300)
        i = k * 7919
        start.wait()
        mine, n = [], 0
        while time.monotonic() < deadline[0]:
            batch = [texts[(i + j) % len(texts)] for j in range(size)]
            i += size
            body = json.dumps(peer.body(batch))
            t0 = time.monotonic()
            try:
                c.request("POST", peer.path, body=body,
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    raise RuntimeError(f"status {r.status}")
            except Exception as e:  # noqa: BLE001 - reported, the point is void
                errors.append(repr(e))
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", peer.port, timeout=300)
                continue
            mine.append(time.monotonic() - t0)
            n += size
        with lock:
            lat.extend(mine)
            count[0] += n
        c.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    deadline[0] = t0 + seconds
    cpu0 = cpu_seconds(peer.proc.pid)
    start.wait()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    cpu = cpu_seconds(peer.proc.pid) - cpu0
    if errors:
        print(f"  {peer.name}: {len(errors)} errors, e.g. {errors[0]}", file=sys.stderr)
    if not lat:
        return None
    lat.sort()
    p = lambda q: 1e3 * lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    return count[0] / wall, p(0.50), p(0.99), 1e3 * cpu / max(count[0], 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bertc", help="the bertc executable (default: ../build-bench, ./build)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--concurrency", default="1,4,16,64")
    ap.add_argument("--sizes", default="1,32", help="sentences per request")
    ap.add_argument("--seconds", type=float, default=4.0, help="per point")
    ap.add_argument("--peers", default="bertc,fastapi,infinity")
    ap.add_argument("--infinity-python", default=sys.executable,
                    help="a Python with infinity-emb installed")
    ap.add_argument("--out", help="also write the report to this file")
    args = ap.parse_args()

    exe = args.bertc or next((str(p) for p in (ROOT.parent / "build-bench/tools/bertc",
                                               ROOT / "build/tools/bertc") if p.exists()), None)
    if not exe:
        sys.exit("serve.py: no bertc build (give --bertc)")
    minilm = subprocess.run([str(ROOT / "scripts/minilm-dir.sh")], capture_output=True,
                            text=True, check=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="bertc-serve-bench-"))
    texts = sentences(2048)
    so = work / "minilm.so"
    subprocess.run([exe, "compile", minilm, "-o", str(so), "--batch-sizes", "1,8,32",
                    "--seq-lens", "16,32,64", "--threads", str(args.threads)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               BENCH_THREADS=str(args.threads), BENCH_MODEL=minilm, TOKENIZERS_PARALLELISM="false")

    # Offline: `bertc run --input` on the same sentences (load time subtracted
    # with a one-sentence run).
    inp = work / "texts.jsonl"
    inp.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    one = work / "one.jsonl"
    one.write_text(json.dumps({"text": texts[0]}) + "\n")

    def timed(path):
        """(wall, CPU) seconds of `bertc run --input path`."""
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        subprocess.run([exe, "run", str(so), "--input", str(path), "--threads",
                        str(args.threads)], check=True, stdout=subprocess.DEVNULL)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (time.monotonic() - t0,
                r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)

    runs = [timed(inp) for _ in range(2)]
    base = timed(one)
    best = min(runs)
    offline = len(texts) / max(best[0] - base[0], 1e-9)
    offline_cpu = 1e3 * (best[1] - base[1]) / len(texts)

    peers = []
    names = args.peers.split(",")
    if "bertc" in names:
        port = free_port()
        peers.append(Peer("bertc", [exe, "serve", str(so), "--port", str(port), "--threads",
                                    str(args.threads), "--max-inputs", "64"], env, port,
                          "/health", "/embed", lambda b: {"inputs": b}))
    if "fastapi" in names:
        try:
            import fastapi, uvicorn, sentence_transformers  # noqa: F401,E401
            app = work / "st_app.py"
            app.write_text(FASTAPI_APP)
            port = free_port()
            peers.append(Peer("fastapi", [sys.executable, "-m", "uvicorn", "st_app:app",
                                          "--app-dir", str(work), "--port", str(port),
                                          "--log-level", "warning"], env, port, "/health",
                              "/embed", lambda b: {"inputs": b}))
        except ImportError as e:
            print(f"serve.py: fastapi peer skipped ({e})", file=sys.stderr)
    if "infinity" in names:
        cli = Path(args.infinity_python).parent / "infinity_emb"
        if cli.exists() or shutil.which("infinity_emb"):
            port = free_port()
            peers.append(Peer("infinity", [str(cli) if cli.exists() else "infinity_emb", "v2",
                                           "--model-id", minilm, "--served-model-name", "minilm",
                                           "--port", str(port), "--engine", "torch", "--device",
                                           "cpu", "--batch-size", "32", "--no-bettertransformer"],
                              env, port, "/health", "/embeddings",
                              lambda b: {"model": "minilm", "input": b}))
        else:
            print("serve.py: infinity peer skipped (no infinity_emb; --infinity-python)",
                  file=sys.stderr)

    conc = [int(c) for c in args.concurrency.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    for peer in peers:
        print(f"serve.py: {peer.name} ...", file=sys.stderr)
        peer.start()
        try:
            load(peer, texts, 1, 1, 1.0)  # warm-up
            for size in sizes:
                for c in conc:
                    results[(peer.name, size, c)] = load(peer, texts, size, c, args.seconds)
                    print(f"  {peer.name} size {size} c {c}: {results[(peer.name, size, c)]}",
                          file=sys.stderr)
        finally:
            peer.stop()
        peer.ready = peer.ready_s

    lines = [f"# bertc serve load benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
             "", f"all-MiniLM-L6-v2, {args.threads} threads per server, {args.seconds:g} s per "
             f"point, {os.cpu_count()} CPUs shared by clients and server; "
             f"`python3 bench/serve.py {' '.join(sys.argv[1:])}`", "",
             f"offline `bertc run --input` (2048 sentences): {offline:.0f} texts/s, "
             f"{offline_cpu:.2f} CPU ms per text", "",
             "| server | sentences/request | concurrency | texts/s | p50 ms | p99 ms | "
             "CPU ms/text | bertc / this (texts/s) | this / bertc (CPU ms/text) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for size in sizes:
        for c in conc:
            base = results.get(("bertc", size, c))
            for peer in peers:
                r = results.get((peer.name, size, c))
                if not r:
                    continue
                ratio = f"{base[0] / r[0]:.2f}" if base and peer.name != "bertc" else ""
                cpu = f"{r[3] / base[3]:.2f}" if base and peer.name != "bertc" else ""
                if peer.name == "bertc":
                    ratio = f"{r[0] / offline:.2f} of offline"
                    cpu = f"{offline_cpu / r[3]:.2f} of offline's"
                lines.append(f"| {peer.name} | {size} | {c} | {r[0]:.0f} | {r[1]:.1f} | "
                             f"{r[2]:.1f} | {r[3]:.2f} | {ratio} | {cpu} |")
    lines += ["", "start-up to first answer: " + ", ".join(
        f"{p.name} {p.ready * 1e3:.0f} ms" for p in peers)]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
