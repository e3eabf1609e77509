"""Dynamic batching under concurrent load, the error contract, auth, and graceful drain."""
import json
import re
import socket
import threading

import numpy as np
import requests

from conftest import MODEL, Server, cosine, metric_value


def batched_sequences_seen(metrics_text):
    """Number of batches that held more than one sequence (from the ember_batch_size histogram)."""
    ones = re.search(r'^ember_batch_size_bucket\{le="1"\} (\d+)$', metrics_text, re.M)
    return metric_value(metrics_text, "ember_batch_size_count") - float(ones.group(1))


def test_concurrent_clients_each_get_their_own_result(uncached_server, reference):
    server = uncached_server  # repeats must reach the batcher, not the result cache
    texts, _ = reference
    # Mixed lengths: short phrases to long, repeated paragraphs.
    inputs = [(" ".join([texts[i % len(texts)]] * (1 + i % 6))) for i in range(64)]
    single = [
        np.asarray(requests.post(server.url + "/embed", json={"inputs": t, "truncate": True}).json()[0])
        for t in inputs
    ]
    for attempt in range(5):  # until the scheduler has packed requests together at least once
        results = [None] * len(inputs)
        barrier = threading.Barrier(len(inputs))

        def client(i):
            with requests.Session() as s:
                barrier.wait()
                r = s.post(server.url + "/embed", json={"inputs": inputs[i], "truncate": True})
                results[i] = (r.status_code, r.json())

        threads = [threading.Thread(target=client, args=(i,)) for i in range(len(inputs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, (status, body) in enumerate(results):
            assert status == 200, body
            assert cosine(body[0], single[i]) >= 0.99999, i
        if batched_sequences_seen(server.metrics()) > 0:
            break
    assert batched_sequences_seen(server.metrics()) > 0


def assert_error(r, status, error_type=None):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "error_type"} and body["error"]
    if error_type:
        assert body["error_type"] == error_type


def test_errors_and_the_server_stays_healthy(server):
    url = server.url
    assert_error(requests.post(url + "/embed", data=b"{not json", headers={"Content-Type": "application/json"}), 400)
    assert_error(requests.post(url + "/embed", json={"inputs": 42}), 422, "Validation")
    assert_error(requests.post(url + "/embed", json=["a list"]), 422)
    assert_error(requests.post(url + "/embed", json={"text": "no inputs"}), 422)
    assert_error(requests.post(url + "/embed", json={"inputs": []}), 400, "Empty")
    assert_error(requests.post(url + "/embed", json={"inputs": "x", "dimensions": 100000}), 422)
    assert_error(requests.post(url + "/embed", json={"inputs": [[10**9]]}), 422)
    r = requests.post(url + "/v1/embeddings", json={"input": "x", "encoding_format": "hex"})
    assert r.status_code == 422 and set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert_error(requests.get(url + "/no/such/route"), 404)
    assert_error(requests.get(url + "/embed"), 405)
    assert_error(requests.post(url + "/embed", data=b"x" * (3 << 20)), 413)
    long_text = "word " * 2000
    assert_error(requests.post(url + "/embed", json={"inputs": long_text}), 422, "Validation")
    assert_error(requests.post(url + "/embed", json={"inputs": ["a"] * 513}), 413)
    ok = requests.post(url + "/embed", json={"inputs": long_text, "truncate": True})
    assert ok.status_code == 200 and len(ok.json()[0]) == 384
    left = requests.post(url + "/embed", json={"inputs": long_text, "truncate": True,
                                                "truncation_direction": "left"})
    assert left.status_code == 200
    # Invalid UTF-8 inside a JSON string is the JSON parser's to refuse.
    assert requests.post(url + "/embed", data=b'{"inputs": "\xff\xfe"}').status_code in (400, 422)
    # Garbage on a raw socket: 400, and the connection is closed rather than the server hurt.
    with socket.create_connection((server.listening["address"], server.listening["port"])) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    assert requests.get(url + "/health").status_code == 200
    r = requests.post(url + "/embed", json={"inputs": "still serving"})
    assert r.status_code == 200 and len(r.json()[0]) == 384
    metrics = server.metrics()
    assert 'ember_http_requests_total{route="/embed",status="413"}' in metrics
    assert "ember_queue_depth" in metrics and "ember_inference_duration_seconds_bucket" in metrics


def test_api_key():
    s = Server("--api-key", "s3cret")
    try:
        assert requests.get(s.url + "/health").status_code == 200  # health needs no key
        assert_error(requests.post(s.url + "/embed", json={"inputs": "a"}), 401)
        bad = {"Authorization": "Bearer wrong"}
        assert_error(requests.post(s.url + "/embed", json={"inputs": "a"}, headers=bad), 401)
        assert_error(requests.get(s.url + "/metrics", headers=bad), 401)
        good = {"Authorization": "Bearer s3cret"}
        assert requests.post(s.url + "/embed", json={"inputs": "a"}, headers=good).status_code == 200
        import openai

        client = openai.OpenAI(base_url=s.url + "/v1", api_key="s3cret")
        assert len(client.embeddings.create(model=MODEL, input="a").data[0].embedding) == 384
    finally:
        assert s.terminate() == 0


def test_sigterm_finishes_in_flight_requests_and_exits_zero(reference):
    texts, _ = reference
    s = Server("--max-batch-tokens", "2048", "--drain-timeout", "0")  # no bound: it must finish
    try:
        big = [" ".join(texts[4:9]) * 2] * 256  # enough work to still be running when signalled
        for attempt in range(5):
            result = {}

            def send():
                r = requests.post(s.url + "/embed", json={"inputs": big, "truncate": True})
                result["status"], result["body"] = r.status_code, r.json()

            t = threading.Thread(target=send)
            t.start()
            # Wait until the request is inside the batcher (or already answered).
            while "status" not in result:
                if metric_value(s.metrics(), "ember_batcher_pending_requests") >= 1:
                    break
            if "status" in result:
                t.join()
                continue  # it finished before we looked: try again
            assert s.terminate() == 0
            t.join()
            assert result["status"] == 200
            assert len(result["body"]) == len(big)
            return
        raise AssertionError("the request always finished before the signal could be sent")
    finally:
        if s.proc.poll() is None:
            s.terminate()


def test_new_connections_are_answered_while_a_request_computes_inline(reference):
    """A request that finds the server idle computes on its connection's I/O thread. New
    connections made meanwhile (health probes, /metrics) must be answered by the other I/O
    thread at once, not after that computation (an io_context per I/O thread broke this)."""
    texts, _ = reference
    # One batch may hold the whole request, so it runs inline (not on the scheduler thread).
    s = Server("--http-threads", "2", "--max-batch-tokens", "1000000", "--max-batch-requests", "512")
    try:
        big = [" ".join(texts[4:9]) * 6] * 192  # 192 x 256 tokens: seconds of compute
        result = {}

        def send():
            r = requests.post(s.url + "/embed", json={"inputs": big, "truncate": True})
            result["status"] = r.status_code

        t = threading.Thread(target=send)
        t.start()
        while metric_value(s.metrics(), "ember_batcher_pending_requests") < 1:
            assert "status" not in result, "the request finished before it was seen (or /metrics waited for it)"
        for _ in range(6):  # each a fresh connection
            assert requests.get(s.url + "/health", timeout=60).status_code == 200
            assert metric_value(s.metrics(), "ember_batcher_pending_requests") >= 1
            assert "status" not in result, "a new connection waited for the computation"
        t.join()
        assert result["status"] == 200
    finally:
        assert s.terminate() == 0



def test_open_keep_alive_connections_are_answered_while_a_request_computes(reference):
    """Connections live on one I/O thread each. Idle keep-alive connections that share a thread
    with the one whose request finds the server idle must still be answered while it computes:
    that thread may not compute inline then (its InlineGate), so the batch goes to the
    scheduler thread and every other connection stays live."""
    texts, _ = reference
    s = Server("--http-threads", "2", "--max-batch-tokens", "1000000", "--max-batch-requests", "512")
    try:
        sessions = [requests.Session() for _ in range(5)]  # spread 3 / 2 over the two threads
        for x in sessions:
            assert x.get(s.url + "/health").status_code == 200  # opened and kept alive
        big = [" ".join(texts[4:9]) * 6] * 192  # 192 x 256 tokens: seconds of compute
        result = {}

        def send():
            r = sessions[0].post(s.url + "/embed", json={"inputs": big, "truncate": True})
            result["status"] = r.status_code

        t = threading.Thread(target=send)
        t.start()
        while metric_value(s.metrics(), "ember_batcher_pending_requests") < 1:
            assert "status" not in result, "the request finished before it was seen"
        for _ in range(3):
            for x in sessions[1:]:  # every other open connection, whichever thread it is on
                assert x.get(s.url + "/health", timeout=60).status_code == 200
                assert "status" not in result, "an open connection waited for the computation"
        t.join()
        assert result["status"] == 200
        for x in sessions:
            x.close()
    finally:
        assert s.terminate() == 0