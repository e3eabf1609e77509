"""Every status code TEI's OpenAPI specification documents (tests/fixtures/tei/openapi-1.9.3.json),
made to happen on a real `ember serve` and checked against the spec: for each operation and each
documented status, one hand-made request that TEI's server answers with that status (the reason
is written beside it, from TEI's documentation and router), answered by Ember with the same
status, a content type and a body that match the spec (except the documented quirk of
/v1/embeddings' error envelope, test_tei_conformance.QUIRKS). Schemathesis' generated traffic
(test_tei_conformance.py) never produces 413, 429 or 503; this file does.

How the rarer ones are made:
- 413 "Batch size error": more inputs than max_client_batch_size (--max-inputs-per-request 4).
- 429 "Model is overloaded": another client's large body is still arriving and holds the share
  of memory that bodies being received may hold together (docs/security.md), so a second large
  body is refused before it is read. TEI answers 429 when its concurrent-request permits are
  gone; both mean "busy now, retry".
- 503 on /health: the server is draining (SIGTERM) while a long request still computes; a
  keep-alive connection opened before the drain asks /health."""
import json
import signal
import socket
import threading
import time
import warnings

import pytest
import requests
import schemathesis
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi import checks as openapi_checks

from conftest import SEQCLS_DIR, SOURCE_DIR, Server, metric_value
from test_tei_conformance import SPEC, quirk_of

MAX_INPUTS = 4
LONG = "word " * 3000  # over every fixture's max_length: 422 without truncate
MODELS = {
    "embedder": SOURCE_DIR / "tests/fixtures/models/tiny-bert-prompts",
    "classifier": SEQCLS_DIR,
    "reranker": SOURCE_DIR / "tests/fixtures/models/tiny-bert-reranker",
    "splade": SOURCE_DIR / "tests/fixtures/models/tiny-bert-splade",
}
CHECKS = [
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


def many(n=MAX_INPUTS + 1):
    return [f"text {i}" for i in range(n)]


# (operation, status, model, body): the request that makes it, and why TEI answers so.
CASES = [
    # /embed, /embed_all: 400 empty batch, 413 over max_client_batch_size, 422 tokenization
    # (over-long without truncate), 424 a model without embeddings (a classifier).
    ("POST /embed", 200, "embedder", {"inputs": "a"}),
    ("POST /embed", 400, "embedder", {"inputs": []}),
    ("POST /embed", 413, "embedder", {"inputs": many()}),
    ("POST /embed", 422, "embedder", {"inputs": LONG, "truncate": False}),
    ("POST /embed", 424, "classifier", {"inputs": "a"}),
    ("POST /embed_all", 200, "embedder", {"inputs": "a"}),
    ("POST /embed_all", 400, "embedder", {"inputs": []}),
    ("POST /embed_all", 413, "embedder", {"inputs": many()}),
    ("POST /embed_all", 422, "embedder", {"inputs": LONG, "truncate": False}),
    ("POST /embed_all", 424, "classifier", {"inputs": "a"}),
    # /embed_sparse: a SPLADE model answers, a dense one is 424 as in TEI.
    ("POST /embed_sparse", 200, "splade", {"inputs": "a"}),
    ("POST /embed_sparse", 400, "splade", {"inputs": []}),
    ("POST /embed_sparse", 413, "splade", {"inputs": many()}),
    ("POST /embed_sparse", 422, "splade", {"inputs": LONG, "truncate": False}),
    ("POST /embed_sparse", 424, "embedder", {"inputs": "a"}),
    # /similarity: the sentences are the batch.
    ("POST /similarity", 200, "embedder", {"inputs": {"source_sentence": "a", "sentences": ["b"]}}),
    ("POST /similarity", 400, "embedder", {"inputs": {"source_sentence": "a", "sentences": []}}),
    ("POST /similarity", 413, "embedder",
     {"inputs": {"source_sentence": "a", "sentences": many()}}),
    ("POST /similarity", 422, "embedder",
     {"inputs": {"source_sentence": LONG, "sentences": ["b"]}, "truncate": False}),
    ("POST /similarity", 424, "classifier",
     {"inputs": {"source_sentence": "a", "sentences": ["b"]}}),
    # OpenAI's route: the same rules; its error bodies are the documented quirk.
    ("POST /v1/embeddings", 200, "embedder", {"input": "a", "model": "m"}),
    ("POST /v1/embeddings", 400, "embedder", {"input": [], "model": "m"}),
    ("POST /v1/embeddings", 413, "embedder", {"input": many(), "model": "m"}),
    ("POST /v1/embeddings", 422, "embedder", {"input": "a", "model": "m", "dimensions": 0}),
    ("POST /v1/embeddings", 424, "classifier", {"input": "a", "model": "m"}),
    # /predict on a classifier; an embedder has no classification head: 424. A batch is a list
    # of [text] / [text, text] items (a flat list is one text or one pair; [] does not parse:
    # 422), so 400 comes from an empty text, as TEI's tokenizer validation answers it.
    ("POST /predict", 200, "classifier", {"inputs": "a"}),
    ("POST /predict", 400, "classifier", {"inputs": ""}),
    ("POST /predict", 413, "classifier", {"inputs": [[t] for t in many()]}),
    ("POST /predict", 422, "classifier", {"inputs": LONG, "truncate": False}),
    ("POST /predict", 424, "embedder", {"inputs": "a"}),
    # /rerank on a cross-encoder; the texts are the batch.
    ("POST /rerank", 200, "reranker", {"query": "q", "texts": ["a"]}),
    ("POST /rerank", 400, "reranker", {"query": "q", "texts": []}),
    ("POST /rerank", 413, "reranker", {"query": "q", "texts": many()}),
    ("POST /rerank", 422, "reranker", {"query": LONG, "texts": ["a"], "truncate": False}),
    ("POST /rerank", 424, "embedder", {"query": "q", "texts": ["a"]}),
    # /tokenize and /decode: no model computes, so no 424 or 429 documented.
    ("POST /tokenize", 200, "embedder", {"inputs": "a"}),
    ("POST /tokenize", 400, "embedder", {"inputs": []}),
    ("POST /tokenize", 413, "embedder", {"inputs": many()}),
    ("POST /tokenize", 422, "embedder", {"inputs": "a", "prompt_name": "no-such-prompt"}),
    ("POST /decode", 200, "embedder", {"ids": [101, 102]}),
    ("POST /decode", 400, "embedder", {"ids": []}),
    ("POST /decode", 413, "embedder", {"ids": [[101]] * (MAX_INPUTS + 1)}),
    ("POST /decode", 422, "embedder", {"ids": "not ids"}),
    ("GET /health", 200, "embedder", None),
    ("GET /info", 200, "embedder", None),
    ("GET /metrics", 200, "embedder", None),
]
# 429 on every route that documents it, each on a model that serves the route.
OVERLOADED = {
    "POST /embed": ("embedder", {"inputs": "a"}),
    "POST /embed_all": ("embedder", {"inputs": "a"}),
    "POST /embed_sparse": ("splade", {"inputs": "a"}),
    "POST /similarity": ("embedder", {"inputs": {"source_sentence": "a", "sentences": ["b"]}}),
    "POST /v1/embeddings": ("embedder", {"input": "a", "model": "m"}),
    "POST /predict": ("classifier", {"inputs": "a"}),
    "POST /rerank": ("reranker", {"query": "q", "texts": ["a"]}),
}


def operation(schema, label):
    method, path = label.split(" ", 1)
    return schema[path][method]


def check(schema, label, status, response, case):
    """The status as expected, and the spec's checks but the documented quirks."""
    assert response.status_code == status, (label, status, response.status_code, response.text[:300])
    failures = []
    for c in CHECKS:
        try:
            case.validate_response(response, checks=[c])
        except Failure as f:
            failures.append((c.__name__, f.title, f.message[:300]))
        except BaseExceptionGroup as g:
            failures += [(c.__name__, getattr(f, "title", ""), str(f)[:300]) for f in g.exceptions]
    unexpected = [f for f in failures if not quirk_of(label, status, f[0])]
    assert not unexpected, (label, status, unexpected)


def call(schema, server, label, status, body):
    op = operation(schema, label)
    case = op.Case(body=body, media_type="application/json") if body is not None else op.Case()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        response = case.call(base_url=server.url, timeout=60)
    check(schema, label, status, response, case)


def start(kind):
    # Small --max-memory so that the body lane's share is small enough to fill with one body.
    return Server("--max-inputs-per-request", str(MAX_INPUTS), "--max-memory", "1G",
                  "--cache-entries", "0", "--max-payload-bytes", str(256 << 20),
                  model=MODELS[kind])


@pytest.fixture(scope="module")
def servers():
    started = {}
    try:
        for kind in MODELS:
            started[kind] = start(kind)
        yield started
    finally:
        for s in started.values():
            assert s.terminate() == 0


@pytest.fixture(scope="module")
def schema():
    return schemathesis.openapi.from_path(str(SPEC))


def documented(schema):
    out = {}
    for result in schema.get_all_operations():
        op = result.ok()
        out[op.label] = sorted(int(s) for s in op.definition.raw["responses"])
    return out


def test_every_documented_status_has_a_case(schema):
    covered = {(label, status) for label, status, _, _ in CASES}
    covered |= {(label, 429) for label in OVERLOADED}
    covered.add(("GET /health", 503))
    missing = [(label, s) for label, statuses in documented(schema).items() for s in statuses
               if (label, s) not in covered]
    assert not missing, missing


@pytest.mark.parametrize("label,status,kind,body", CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_documented_status(servers, schema, label, status, kind, body):
    call(schema, servers[kind], label, status, body)


class HeldBody:
    """A client whose request body is still arriving: it has sent the headers of a body of
    `length` bytes and a little of it, and holds the rest."""

    def __init__(self, server, length):
        host, port = server.listening["address"], server.listening["port"]
        self.sock = socket.create_connection((host, port))
        head = (f"POST /embed HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {length}\r\n\r\n")
        self.sock.sendall(head.encode() + b'{"inputs": "')

    def answer(self):
        """What the server has sent back on this connection so far (b"" while it waits)."""
        self.sock.setblocking(False)
        try:
            return self.sock.recv(4096, socket.MSG_PEEK)
        except BlockingIOError:
            return b""
        finally:
            self.sock.setblocking(True)

    def close(self):
        self.sock.close()


def hold_body(server, length):
    """A HeldBody whose reservation the server has made (ember_memory_reserved_bytes counts
    it). The reservation is made once the headers are read, on the connection's I/O thread;
    on a loaded machine that can come after the next request, so wait for it rather than
    assume it. A held body the server answered (refused: something else held the memory)
    is tried again, and named if it never holds."""
    answers = []
    for _ in range(5):
        held = HeldBody(server, length)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if metric_value(server.metrics(), "ember_memory_reserved_bytes") >= length:
                return held
            if answer := held.answer():
                answers.append(answer[:300])
                break
            time.sleep(0.05)
        held.close()
    raise AssertionError(f"the held body's reservation was never made: {answers}")


@pytest.mark.parametrize("label", list(OVERLOADED))
def test_overloaded_429(servers, schema, label):
    kind, body = OVERLOADED[label]
    server = servers[kind]
    lane = server.listening["request_memory"] // 4  # bodies being received, together
    held = hold_body(server, lane - (32 << 10))
    try:
        deadline = time.monotonic() + 30
        padded = json.dumps(body) + " " * (128 << 10)  # a large body, valid JSON
        while True:
            op = operation(schema, label)
            case = op.Case(body=json.loads(padded), media_type="application/json")
            r = requests.post(server.url + "/" + label.split(" /", 1)[1], data=padded,
                              headers={"Content-Type": "application/json"}, timeout=60)
            if r.status_code == 429 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        check(schema, label, 429, r, case)
        assert "retry" in r.text.lower()
    finally:
        held.close()
    # Once the held body is gone the same request is served.
    deadline = time.monotonic() + 30
    while requests.post(server.url + "/" + label.split(" /", 1)[1], data=padded,
                        headers={"Content-Type": "application/json"}).status_code == 429:
        assert time.monotonic() < deadline, "the held body's reservation was never released"
        time.sleep(0.05)


def test_health_503_while_draining(schema):
    # One compute thread and a hundred long inputs: seconds of compute to drain, unbounded.
    s = Server("--threads", "1", "--max-batch-tokens", "2048", "--cache-entries", "0",
               "--no-inline-idle-batch", "--drain-timeout", "0")  # all-MiniLM-L6-v2
    try:
        probe = requests.Session()
        assert probe.get(s.url + "/health").status_code == 200  # keep-alive, opened before
        big = [f"{i} " + "a long sentence to compute " * 60 for i in range(100)]
        result = []
        t = threading.Thread(target=lambda: result.append(requests.post(
            s.url + "/embed", json={"inputs": big, "truncate": True}, timeout=600).status_code))
        t.start()
        while metric_value(s.metrics(), "ember_batcher_pending_requests") < 1:
            assert not result, result
        s.proc.send_signal(signal.SIGTERM)
        op = operation(schema, "GET /health")
        while True:
            r = probe.get(s.url + "/health", timeout=60)
            if r.status_code == 503:
                break
            assert r.status_code == 200 and not result, (r.status_code, result)
        check(schema, "GET /health", 503, r, op.Case())
        t.join()
        assert result == [200]  # the drain let the running request finish
        assert s.proc.wait(timeout=300) == 0
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
