"""bertc serve against real clients.

A server is started on loopback on a free port (--port 0, the port read from
its start-up line) for the compiled all-MiniLM-L6-v2 (embeddings) and for three
tiny fixture models (a one-label cross-encoder for /rerank and /predict, a
masked LM for fill-mask and an extractive QA model through /run). Answers are compared with what
`bertc run` prints for the same .so (float32 printed with 9 digits; a batch
may run in another bucket than `bertc run` chose, so embeddings agree to
1e-5 absolute, the tolerance of the runtime's own bucket tests). Then: the
official `openai` client, curl, the bad-request table, API keys, slow and
idle connections, 64 concurrent clients, a full queue, shutdown under load,
and a schemathesis pass over /openapi.json. Environment as every bertc test:
BERTC_EXE, BERTC_SOURCE_DIR, BERTC_BINARY_DIR, BERTC_MINILM_DIR.
"""

from __future__ import annotations

import base64
import concurrent.futures
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

EXE = os.environ.get("BERTC_EXE", "bertc")
SRC = Path(os.environ.get("BERTC_SOURCE_DIR", Path(__file__).resolve().parents[2]))
SCRATCH = Path(os.environ.get("BERTC_BINARY_DIR", "/tmp")) / "serve-test"
MINILM = os.environ.get("BERTC_MINILM_DIR", "")
TOL = 1e-5

TEXTS = ["hello world", "The cat sat on the mat.", "bertc compiles BERT models",
         "A much longer sentence about embeddings, servers and batching of requests.",
         "é ü 中文", ""]


# ---- Models and servers -------------------------------------------------------------

def compile_models() -> dict[str, Path]:
    """Compiles the four models in parallel (once per session), one bucket each
    (a bucket of 8 x 64 holds every run of these tests: the run that holds more
    sequences is split)."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    jobs = {
        "minilm": (MINILM, ["--batch-sizes", "8", "--seq-lens", "64"]),
        "rerank": (str(SRC / "tests/fixtures/tiny/bert_regression"),
                   ["--batch-sizes", "4", "--seq-lens", "64"]),
        "mlm": (str(SRC / "tests/fixtures/tiny/bert_mlm"), ["--seq-lens", "64"]),
        "qa": (str(SRC / "tests/fixtures/tiny/bert_qa"), ["--seq-lens", "64"]),
    }
    procs = {}
    for name, (src, args) in jobs.items():
        out = SCRATCH / f"{name}.so"
        procs[name] = (out, subprocess.Popen([EXE, "compile", src, "-o", str(out), "--jobs", "1",
                                              *args], stdout=subprocess.DEVNULL,
                                             stderr=subprocess.PIPE, text=True))
    result = {}
    for name, (out, p) in procs.items():
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, f"compiling {name}: {err}"
        result[name] = out
    return result


class Server:
    """A `bertc serve` process on loopback."""

    def __init__(self, so: Path, *args: str):
        self.proc = subprocess.Popen([EXE, "serve", str(so), "--port", "0", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        assert "listening on http://127.0.0.1:" in line, line
        self.port = int(line.split("127.0.0.1:")[1].split()[0])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = [line]

    def request(self, method: str, path: str, body=None, headers=None, raw: bytes | None = None):
        """(status, headers, parsed JSON or text) on a fresh connection."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = {"Content-Type": "application/json", **(headers or {})}
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read().decode()
        c.close()
        ctype = r.getheader("Content-Type", "")
        return r.status, dict(r.getheaders()), json.loads(text) if "json" in ctype else text

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.log += self.proc.stderr.readlines()
        return rc


@pytest.fixture(scope="session")
def models():
    if not Path(MINILM, "config.json").is_file():
        pytest.skip("all-MiniLM-L6-v2 is not installed (scripts/install-deps.sh)")
    return compile_models()


@pytest.fixture(scope="session")
def minilm(models):
    s = Server(models["minilm"], "--model-name", "minilm", "--max-inputs", "64",
               "--max-body", "262144")
    yield s
    assert s.stop() == 0, "".join(s.log)


@pytest.fixture(scope="session")
def expected(models):
    """`bertc run`'s embeddings of TEXTS."""
    inp = SCRATCH / "texts.jsonl"
    inp.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    out = subprocess.run([EXE, "run", str(models["minilm"]), "--input", str(inp)],
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line)["embedding"] for line in out.splitlines()]


def close(a, b, tol=TOL):
    assert len(a) == len(b)
    worst = max(abs(x - y) for x, y in zip(a, b))
    assert worst <= tol, f"differ by {worst}"


# ---- Answers equal `bertc run`'s ----------------------------------------------------

def test_openai_client(minilm, expected):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=minilm.url + "/v1", api_key="unused")
    r = client.embeddings.create(model="minilm", input=TEXTS, encoding_format="float")
    assert [d.index for d in r.data] == list(range(len(TEXTS)))
    for d, want in zip(r.data, expected):
        close(d.embedding, want)
    # The client's default asks for base64 and decodes it.
    r2 = client.embeddings.create(model="minilm", input=TEXTS[1])
    close(r2.data[0].embedding, expected[1])
    assert r2.usage.prompt_tokens == r2.usage.total_tokens > 2
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.embeddings.create(model="gpt-4", input="x")
    assert [m.id for m in client.models.list()] == ["minilm"]


def test_openai_shapes(minilm, expected):
    # Token arrays: the ids /tokenize gives for a text embed as the text does.
    st, _, toks = minilm.post("/tokenize", {"inputs": TEXTS[:2]})
    assert st == 200
    ids = [[t["id"] for t in seq] for seq in toks]
    st, _, r = minilm.post("/v1/embeddings", {"model": "minilm", "input": ids})
    assert st == 200
    for d, want in zip(r["data"], expected):
        close(d["embedding"], want)
    assert r["usage"]["prompt_tokens"] == sum(len(i) for i in ids)
    st, _, r = minilm.post("/v1/embeddings", {"model": "minilm", "input": ids[0]})
    assert st == 200 and len(r["data"]) == 1
    close(r["data"][0]["embedding"], expected[0])
    st, _, r = minilm.post("/v1/embeddings",
                           {"model": "minilm", "input": TEXTS[0], "encoding_format": "base64"})
    raw = base64.b64decode(r["data"][0]["embedding"])
    close(struct.unpack(f"<{len(raw) // 4}f", raw), expected[0])
    assert r["object"] == "list" and r["model"] == "minilm"


def test_curl_tei_and_run(minilm, expected):
    curl = shutil.which("curl")
    if not curl:
        pytest.skip("curl is not installed")
    out = subprocess.run([curl, "-sS", "-f", minilm.url + "/embed", "-H",
                          "Content-Type: application/json", "-d",
                          json.dumps({"inputs": TEXTS})], capture_output=True, text=True,
                         check=True).stdout
    for got, want in zip(json.loads(out), expected):
        close(got, want)
    st, _, r = minilm.post("/run", {"inputs": [{"text": t} for t in TEXTS]})
    assert st == 200
    for got, want in zip(r, expected):
        close(got["embedding"], want)
    st, _, r = minilm.post("/embed", {"inputs": TEXTS[2]})
    assert st == 200 and len(r) == 1
    close(r[0], expected[2])


def test_tokenize_matches_cli(minilm, models):
    out = subprocess.run([EXE, "tokenize", str(models["minilm"]), "--text", TEXTS[4]],
                         capture_output=True, text=True, check=True).stdout
    want = json.loads(out.splitlines()[0])
    st, _, r = minilm.post("/tokenize", {"inputs": TEXTS[4]})
    assert st == 200
    assert [t["id"] for t in r[0]] == want["ids"]
    assert [[t["start"], t["stop"]] for t in r[0]] == want["offsets"]
    st, _, r = minilm.post("/tokenize", {"inputs": TEXTS[4], "add_special_tokens": False})
    assert not any(t["special"] for t in r[0]) and len(r[0]) == len(want["ids"]) - 2


def test_rerank_predict_fill_mask_qa(models):
    s = Server(models["rerank"])
    try:
        texts = ["the cat sat", "a dog", "nothing at all here"]
        st, _, r = s.post("/rerank", {"query": "where is the cat", "texts": texts,
                                      "return_text": True})
        assert st == 200 and sorted(x["index"] for x in r) == [0, 1, 2]
        assert [x["score"] for x in r] == sorted((x["score"] for x in r), reverse=True)
        assert all(x["text"] == texts[x["index"]] for x in r)
        # Scores are bertc run's sigmoid of the pair's logit.
        for x in r:
            out = subprocess.run([EXE, "run", str(models["rerank"]), "--text", "where is the cat",
                                  "--pair", texts[x["index"]], "--function", "sigmoid"],
                                 capture_output=True, text=True, check=True).stdout
            assert abs(json.loads(out)["score"] - x["score"]) < 1e-6
        st, _, r = s.post("/predict", {"inputs": ["where is the cat", "the cat sat"]})
        assert st == 200 and r[0]["label"] == "LABEL_0"  # a pair: one answer
        st, _, r = s.post("/predict", {"inputs": ["a", ["b", "c"], "d"], "raw_scores": True})
        assert st == 200 and len(r) == 3 and all(len(x) == 1 for x in r)
        st, _, r = s.post("/embed", {"inputs": "x"})
        assert st == 400 and "no sentence embedding" in r["error"]
    finally:
        assert s.stop() == 0
    s = Server(models["mlm"])
    try:
        text = "the capital of france is [MASK] ."
        st, _, r = s.post("/run", {"inputs": [text, {"text": "no mask here"}]})
        assert st == 422 and "`inputs[1]`" in r["error"] and "mask" in r["error"], r
        st, _, r = s.post("/run", {"inputs": text})
        out = subprocess.run([EXE, "run", str(models["mlm"]), "--text", text],
                             capture_output=True, text=True, check=True).stdout
        assert st == 200
        want = json.loads(out)
        assert [c["token"] for c in r[0]["mask"]] == [c["token"] for c in want["mask"]]
        for a, b in zip(r[0]["mask"], want["mask"]):
            assert abs(a["score"] - b["score"]) < 1e-6 and a["sequence"] == b["sequence"]
        st, _, r = s.post("/rerank", {"query": "q", "texts": ["a"]})
        assert st == 400 and "not a reranker" in r["error"]
    finally:
        assert s.stop() == 0
    s = Server(models["qa"])
    try:
        q, ctx = "who sat on the mat?", "the cat sat on the mat while the dog slept."
        st, _, r = s.post("/run", {"inputs": [{"question": q, "context": ctx}, "no context"]})
        assert st == 422 and "`inputs[1]`" in r["error"] and "context" in r["error"], r
        st, _, r = s.post("/run", {"inputs": [{"question": q, "context": ctx}]})
        out = subprocess.run([EXE, "run", str(models["qa"]), "--question", q, "--context", ctx],
                             capture_output=True, text=True, check=True).stdout
        want = json.loads(out)
        assert st == 200 and (r[0]["answer"], r[0]["start"], r[0]["end"]) == \
            (want["answer"], want["start"], want["end"])
        assert abs(r[0]["score"] - want["score"]) < 1e-6
    finally:
        assert s.stop() == 0


# ---- Bad requests -------------------------------------------------------------------

LONG = "word " * 200  # > 64 tokens, the largest bucket
BAD = [
    # (method, path, body (bytes: sent as is), status, words the message must have)
    ("POST", "/v1/embeddings", b'{"input": "a", "model": ', 400, "not valid JSON"),
    ("POST", "/v1/embeddings", b'[1, 2]', 422, "JSON object"),
    ("POST", "/v1/embeddings", {"model": "minilm"}, 422, "`input`"),
    ("POST", "/v1/embeddings", {"model": "minilm", "input": 5}, 422, "`input`"),
    ("POST", "/v1/embeddings", {"model": "minilm", "input": []}, 422, "`input`"),
    ("POST", "/v1/embeddings", {"model": "minilm", "input": ["a", 1]}, 422, "`input`"),
    ("POST", "/v1/embeddings", {"input": "a"}, 422, "`model`"),
    ("POST", "/v1/embeddings", {"model": "other", "input": "a"}, 404, "does not exist"),
    ("POST", "/v1/embeddings", {"model": "minilm", "input": "a", "encoding_format": "hex"}, 422,
     "`encoding_format`"),
    ("POST", "/v1/embeddings", {"model": "minilm", "input": "a", "dimensions": 3}, 422,
     "`dimensions` must be 384"),
    ("POST", "/v1/embeddings", {"model": "minilm", "input": [[1, 99999999]]}, 422, "token id"),
    ("POST", "/v1/embeddings", {"model": "minilm", "input": [[1] * 65]}, 413, "64"),
    ("POST", "/v1/embeddings", {"model": "minilm", "input": LONG}, 413, "longer than 64 tokens"),
    ("POST", "/v1/embeddings", {"model": "minilm", "input": ["a"] * 65}, 413, "limit is 64"),
    ("POST", "/embed", {"inputs": LONG}, 413, "\"truncate\": true"),
    ("POST", "/embed", {"inputs": "a", "normalize": "yes"}, 422, "`normalize`"),
    ("POST", "/embed", {"inputs": "a", "normalize": False}, 422, "normalizes"),
    ("POST", "/embed", {"inputs": [["a"]]}, 422, "`inputs`"),
    ("POST", "/embed", {"input": "a"}, 422, "`inputs` is required"),
    ("POST", "/embed", b"x" * 300000, 413, "262144 bytes"),
    ("POST", "/rerank", {"query": "a", "texts": ["b"]}, 400, "not a reranker"),
    ("POST", "/predict", {"inputs": "a"}, 400, "sequence-classification"),
    ("POST", "/tokenize", {"inputs": 3}, 422, "`inputs`"),
    ("POST", "/run", {"inputs": [{"txt": "a"}]}, 422, "`inputs[0]`"),
    ("POST", "/run", {"inputs": "a", "truncate": 1}, 422, "`truncate`"),
    ("GET", "/nope", None, 404, "no route"),
    ("GET", "/embed", None, 405, "takes POST"),
    ("POST", "/health", {}, 405, "takes GET"),
]


@pytest.mark.parametrize("method,path,body,status,words", BAD,
                         ids=[f"{m} {p} {s} {w}" for m, p, _, s, w in BAD])
def test_bad_request(minilm, method, path, body, status, words):
    raw = body if isinstance(body, bytes) else None
    st, headers, r = minilm.request(method, path, None if raw is not None else body, raw=raw)
    assert st == status, r
    err = r["error"]["message"] if path.startswith("/v1") else r["error"]
    assert words in err, err
    if status == 405:
        assert headers["Allow"] in ("GET", "POST")


def test_truncate_when_asked(minilm):
    st, _, r = minilm.post("/embed", {"inputs": LONG, "truncate": True})
    assert st == 200 and len(r[0]) == 384
    st, _, cut = minilm.post("/embed", {"inputs": " ".join(["word"] * 62)})
    close(r[0], cut[0])  # 62 words + [CLS] + [SEP]: what truncation to 64 keeps


def test_api_key(models):
    key = SCRATCH / "key.txt"
    key.write_text("s3cret-key-for-tests\n")
    s = Server(models["minilm"], "--api-key-file", str(key), "--model-name", "minilm")
    try:
        assert s.request("GET", "/health")[0] == 200
        st, h, r = s.request("GET", "/info")
        assert st == 401 and h["WWW-Authenticate"] == "Bearer"
        bad = {"Authorization": "Bearer s3cret-key-for-test"}
        assert s.post("/embed", {"inputs": "a"}, headers=bad)[0] == 401
        good = {"Authorization": "Bearer s3cret-key-for-tests"}
        assert s.post("/embed", {"inputs": "a"}, headers=good)[0] == 200
        st, _, r = s.post("/v1/embeddings", {"model": "minilm", "input": "a"})
        assert st == 401 and r["error"]["type"] == "authentication_error"
    finally:
        assert s.stop() == 0


# ---- Load, slow clients, shutdown ---------------------------------------------------

def test_slow_and_idle_connections(models):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    s = Server(models["minilm"], "--timeout", "2")
    idle = []
    try:
        stalled = socket.create_connection(("127.0.0.1", s.port))
        stalled.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"in")
        for _ in range(1500):
            idle.append(socket.create_connection(("127.0.0.1", s.port)))
        st, _, r = s.post("/embed", {"inputs": "still answering"})  # beside 1500 idle ones
        assert st == 200 and len(r[0]) == 384
        stalled.settimeout(10)
        assert stalled.recv(1) == b""  # closed by the server's timeout, no answer
        stalled.close()
    finally:
        for c in idle:
            c.close()
        assert s.stop() == 0


def test_64_concurrent_clients(minilm, expected):
    n = len(TEXTS)

    def client(i):
        texts = [TEXTS[(i + k) % n] for k in range(1 + i % 3)]
        st, _, r = minilm.post("/v1/embeddings", {"model": "minilm", "input": texts})
        assert st == 200
        for k, d in enumerate(r["data"]):
            assert d["index"] == k
            close(d["embedding"], expected[(i + k) % n])
        return len(texts)

    before = minilm.request("GET", "/metrics")[2]
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        answered = sum(pool.map(client, range(64)))
    assert answered == sum(1 + i % 3 for i in range(64))
    after = minilm.request("GET", "/metrics")[2]

    def batches(text):
        return sum(int(line.split()[-1]) for line in text.splitlines()
                   if line.startswith("bertc_batch_requests_count"))
    # Requests that arrive together share batches: fewer batches than requests.
    assert batches(after) - batches(before) < 64


def test_queue_full_is_503(models):
    s = Server(models["minilm"], "--max-queue", "1")
    try:
        body = {"inputs": [f"sentence number {i} of a larger request" for i in range(32)]}
        with concurrent.futures.ThreadPoolExecutor(24) as pool:
            answers = list(pool.map(lambda _: s.post("/embed", body), range(48)))
        codes = [a[0] for a in answers]
        assert set(codes) <= {200, 503} and 200 in codes and 503 in codes
        for st, h, r in answers:
            if st == 503:
                assert h["Retry-After"] == "1" and "--max-queue" in r["error"]
    finally:
        assert s.stop() == 0


def test_shutdown_under_load(models):
    s = Server(models["minilm"], "--workers", "2", "--threads", "1")  # two contexts
    body = json.dumps({"inputs": [f"text {i} to embed before the end" for i in range(8)]})
    results = []  # (connected before the signal, outcome)
    sigterm_at = [None]
    stop = threading.Event()

    def client():
        while not stop.is_set():
            try:
                c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
                c.connect()
            except ConnectionRefusedError:
                results.append((False, "refused"))
                return
            early = sigterm_at[0] is None
            try:
                c.request("POST", "/embed", body=body,
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                data = json.loads(r.read())
                ok = r.status == 200 and len(data) == 8 and all(len(v) == 384 for v in data)
                results.append((early, "ok" if ok else f"bad {r.status}"))
            except (ConnectionResetError, http.client.RemoteDisconnected) as e:
                results.append((early, f"reset {e!r}"))
            finally:
                c.close()

    threads = [threading.Thread(target=client) for _ in range(12)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    sigterm_at[0] = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    rc = s.proc.wait(timeout=60)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    log = "".join(s.log + s.proc.stderr.readlines())
    assert rc == 0, log
    assert "0 unanswered" in log, log
    early = [o for e, o in results if e]
    assert early and all(o == "ok" for o in early), results
    # After the signal: answered, or refused; a connection the kernel took in
    # the instant between the last accept and the close may be reset unanswered.
    assert all(o == "ok" or o == "refused" or o.startswith("reset") for e, o in results if not e)


# ---- The OpenAPI document -----------------------------------------------------------

def test_openapi_lists_every_route(minilm):
    st, _, doc = minilm.request("GET", "/openapi.json")
    assert st == 200 and doc["openapi"].startswith("3.")
    # The routes docs/serve.md lists are the ones the document describes.
    documented = set(re.findall(r"^\| `(GET|POST) (/[^` ]*)`", (SRC / "docs/serve.md").read_text(),
                                re.M))
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == described
    # And the ones the server's route table (server/api.c) serves.
    table = set((m, p) for p, m in re.findall(r'\{"(/[^"]*)", "(GET|POST)"',
                                                (SRC / "server/api.c").read_text()))
    assert table == described
    for path, ops in doc["paths"].items():
        for method in ops:
            st, _, _ = minilm.request(method.upper(), path, {} if method == "post" else None)
            assert st not in (404, 405), (method, path)
    assert minilm.request("GET", "/v2/nothing")[0] == 404


def test_schemathesis(minilm):
    pytest.importorskip("schemathesis")
    st_exe = shutil.which("st") or shutil.which("schemathesis")
    if not st_exe:
        pytest.skip("the schemathesis CLI is not on PATH")
    out = subprocess.run(
        [st_exe, "run", minilm.url + "/openapi.json", "--max-examples", "10", "--seed", "7",
         "--phases", "examples,fuzzing", "--generation-database", "none", "--no-color",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
         "response_schema_conformance,response_headers_conformance"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


# ---- The command line ---------------------------------------------------------------

@pytest.mark.parametrize("args,code,words", [
    (["--port", "70000"], 2, "--port wants 0..65535"),
    (["--workers", "0"], 2, "--workers wants 1..256"),
    (["--bogus"], 2, "--bogus"),
    ([], 2, "expected one MODEL.so"),
    ([str(SRC / "README.md")], 1, "not a compiled model"),
    (["MODEL", "--api-key-file", "/nonexistent/key"], 1, "/nonexistent/key"),
    (["MODEL", "--host", "not a host name"], 1, "--host not a host name"),
])
def test_cli_errors(models, args, code, words):
    args = [str(models["rerank"]) if a == "MODEL" else a for a in args]
    r = subprocess.run([EXE, "serve", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == code and words in r.stderr, r.stderr
