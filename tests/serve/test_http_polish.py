"""HTTP polish: OpenAI-shaped errors on /v1, Expect: 100-continue, /info for classifiers,
Server-Timing, and requests whose client disconnected dropped before compute."""
import json
import re
import socket
import time

import openai
import pytest
import requests

from conftest import MODEL, Server, cosine, metric_value


def assert_openai_error(r, status, code=None):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"] and err["param"] is None
    if code:
        assert err["code"] == code
    return err


def test_v1_errors_have_openai_shape_and_tei_routes_keep_theirs(server):
    err = assert_openai_error(requests.post(server.url + "/v1/embeddings", json={"input": []}), 400)
    assert err["type"] == "invalid_request_error"
    err = assert_openai_error(requests.post(server.url + "/v1/embeddings", data=b"{nope"), 400)
    assert err["type"] == "invalid_request_error" and "JSON" in err["message"]
    assert_openai_error(requests.get(server.url + "/v1/nothing"), 404)
    assert_openai_error(requests.get(server.url + "/v1/embeddings"), 405)
    tei = requests.post(server.url + "/embed", json={"inputs": []})
    assert tei.status_code == 400 and set(tei.json()) == {"error", "error_type"}


def test_openai_client_sees_typed_errors():
    s = Server("--api-key", "k3y")
    try:
        bad = openai.OpenAI(base_url=s.url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as e:
            bad.embeddings.create(model=MODEL, input="a")
        assert e.value.code == "invalid_api_key" and e.value.type == "authentication_error"
        good = openai.OpenAI(base_url=s.url + "/v1", api_key="k3y", max_retries=0)
        with pytest.raises(openai.UnprocessableEntityError) as e:
            good.embeddings.create(model=MODEL, input="a", dimensions=100000)
        assert "dimensions" in e.value.message
    finally:
        assert s.terminate() == 0


def test_expect_100_continue_is_answered_before_the_body(server, reference):
    texts, pooled = reference
    body = json.dumps({"inputs": texts[2] + " " * 4000}).encode()  # > 1 KiB, as curl sends it
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(
            b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        interim = b""
        while b"\r\n\r\n" not in interim:
            chunk = s.recv(4096)  # blocks until the server answers (or the 20 s socket timeout)
            assert chunk
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(body)
        out = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        while b"]]" not in out:
            chunk = s.recv(65536)
            assert chunk
            out += chunk
    head, payload = out.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    assert cosine(json.loads(payload)[0], pooled[2]) >= 0.9999


def test_expect_100_continue_over_the_limit_gets_413_without_continue():
    s = Server("--max-payload-bytes", "1000")
    try:
        host, port = s.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=20) as c:
            c.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
            out = c.recv(65536)
        assert out.startswith(b"HTTP/1.1 413")
    finally:
        assert s.terminate() == 0


def test_curl_with_expect_gets_the_embedding(server, reference, tmp_path):
    import subprocess

    texts, pooled = reference
    f = tmp_path / "body.json"
    f.write_text(json.dumps({"inputs": texts[3] + " " * 3000}))
    out = subprocess.run(
        ["curl", "-sS", "-H", "Expect: 100-continue", "-H", "Content-Type: application/json",
         "--data-binary", f"@{f}", server.url + "/embed"],
        capture_output=True, check=True, text=True,
    ).stdout
    assert cosine(json.loads(out)[0], pooled[3]) >= 0.9999


def test_info_reports_model_types(server, seqcls_server, reranker_server):
    assert requests.get(server.url + "/info").json()["model_type"] == {"embedding": {"pooling": "mean"}}
    cls = requests.get(seqcls_server.url + "/info").json()["model_type"]["classifier"]
    assert set(cls["id2label"]) == {"0", "1", "2"}
    assert {v: int(k) for k, v in cls["id2label"].items()} == cls["label2id"]
    rr = requests.get(reranker_server.url + "/info").json()["model_type"]
    assert rr == {"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}}


def test_server_timing_header(uncached_server, reference):
    texts, _ = reference
    r = requests.post(uncached_server.url + "/embed", json={"inputs": texts[5]})
    parts = dict(p.strip().split(";dur=") for p in r.headers["server-timing"].split(","))
    assert set(parts) == {"tokenize", "queue", "inference", "total"}
    assert float(parts["inference"]) > 0 and float(parts["total"]) >= float(parts["inference"])


def test_requests_of_disconnected_clients_are_not_run(reference):
    texts, _ = reference
    # One compute thread and small batches: a queue builds up behind the first requests.
    s = Server("--threads", "1", "--max-batch-tokens", "256", "--cache-entries", "0")
    try:
        host, port = s.url.removeprefix("http://").split(":")
        n = 48
        socks = []
        for i in range(n):
            body = json.dumps({"inputs": " ".join(texts[(i + k) % len(texts)] for k in range(6)), "truncate": True}).encode()
            c = socket.create_connection((host, int(port)))
            c.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\n\r\n" + body)
            socks.append(c)
        for c in socks:  # the clients give up (a short client timeout)
            c.close()
        # Wait until every request was answered (dropped ones with 499, as nginx logs them).
        while True:
            m = s.metrics()
            answered = re.findall(r'^ember_http_requests_total\{route="/embed",status="(\d+)"\} (\d+)$', m, re.M)
            if sum(int(n) for _, n in answered) >= n:
                break
            time.sleep(0.05)
        assert {st for st, _ in answered} <= {"200", "499"}
        dropped = metric_value(m, "ember_requests_dropped_disconnected_total")
        ran = metric_value(m, "ember_batch_size_sum")  # sequences computed, one per request
        assert dropped >= 1
        assert ran + dropped == n
        # The server still answers a connected client.
        assert requests.post(s.url + "/embed", json={"inputs": "still here"}).status_code == 200
    finally:
        assert s.terminate() == 0


def cpu_has_bf16():
    flags = open("/proc/cpuinfo").read()
    return "avx512_bf16" in flags


@pytest.mark.parametrize("isa", [None, "avx2"])
def test_listening_line_states_the_dtype_and_why(isa, reference):
    """--dtype bf16: bf16 where the CPU (or EMBER_ISA) has avx512_bf16, else fp32 with the reason
    on the listening line and stderr; the embeddings are the model's either way."""
    import os
    env = dict(os.environ)
    if isa:
        env["EMBER_ISA"] = isa
    s = Server("--dtype", "bf16", "--cache-entries", "0", env=env)
    try:
        native = cpu_has_bf16() and isa is None
        assert s.listening["dtype"] == ("bf16" if native else "fp32"), s.listening
        assert ("dtype_note" in s.listening) == (not native), s.listening
        if not native:
            assert "avx512_bf16" in s.listening["dtype_note"], s.listening
        texts, expected = reference
        rows = [i for i, t in enumerate(texts) if t.strip()][:3]  # TEI answers 400 to ""
        r = requests.post(s.url + "/embed", json={"inputs": [texts[i] for i in rows]})
        assert r.status_code == 200, r.text
        for got, i in zip(r.json(), rows):
            assert cosine(got, expected[i]) > 0.999
    finally:
        assert s.terminate() == 0
    if not native:
        assert any("avx512_bf16" in line for line in s._stderr), s._stderr
