"""Malformed HTTP over real sockets: garbage request lines, huge headers, bad Content-Length,
truncated bodies, chunked garbage, invalid UTF-8, deeply nested JSON. Each is answered with a
4xx (or the connection is closed) and never a 5xx, and afterwards a good request on another
connection still gets the right embedding."""
import socket

import numpy as np
import pytest
import requests

from conftest import cosine


def raw_exchange(url, data, shutdown_write=False, timeout=10):
    """Sends bytes on a fresh connection; returns what came back until the first response's
    headers ended, the server closed, or `timeout` passed."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        try:
            s.sendall(data)
            if shutdown_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed early (413 / 400): read what it sent
        out = b""
        try:
            while b"\r\n\r\n" not in out:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    return out


def status_of(response):
    if not response:
        return None  # closed without an answer
    line = response.split(b"\r\n", 1)[0].split()
    return int(line[1])


def body_request(path, body, extra=b""):
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra
        + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


CASES = {
    "garbage request line": b"GARBAGE\r\n\r\n",
    "binary noise": bytes(range(256)) * 4,
    "bad version": b"GET /health HTTP/7.3\r\nHost: x\r\n\r\n",
    "space in target": b"GET /he alth HTTP/1.1\r\nHost: x\r\n\r\n",
    "huge header": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    "many headers": b"GET /health HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(20000)) + b"\r\n",
    "content-length not a number": b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    "negative content-length": b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
    "two content-lengths": b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x",
    "content-length over the limit": b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n{",
    "chunked garbage": b"POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nhello\r\n0\r\n\r\n",
    "chunk size overflow": b"POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\nx\r\n",
    "header without colon": b"GET /health HTTP/1.1\r\nHost x\r\n\r\n",
    "nul in header": b"GET /health HTTP/1.1\r\nHost: x\x00y\r\n\r\n",
    "invalid utf-8 json": body_request(b"/embed", b'{"inputs": "\xff\xfe\xc3("}'),
    "invalid utf-8 openai": body_request(b"/v1/embeddings", b'{"input": ["ok", "\xed\xa0\x80"]}'),
    "deeply nested json": body_request(b"/embed", b"[" * 100_000 + b"]" * 100_000),
    "deeply nested inputs": body_request(b"/embed", b'{"inputs": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
    "nested objects": body_request(b"/v1/embeddings", b'{"input": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}"),
    "unterminated json": body_request(b"/predict", b'{"inputs": ["a", '),
    "rerank wrong types": body_request(b"/rerank", b'{"query": 5, "texts": {"a": null}}'),
    "tokenize wrong types": body_request(b"/tokenize", b'{"inputs": [1, 2, [3]]}'),
    "token ids out of range": body_request(b"/embed", b'{"inputs": [[101, -7, 99999999999]]}'),
    "number overflow": body_request(b"/embed", b'{"inputs": "a", "dimensions": 1e999}'),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_request_gets_4xx_and_server_keeps_serving(server, reference, name):
    texts, pooled = reference
    status = status_of(raw_exchange(server.url, CASES[name]))
    assert status is None or 400 <= status < 500, (name, status)
    # Another connection, a good request: the right answer.
    r = requests.post(server.url + "/embed", json={"inputs": texts[0]})
    assert r.status_code == 200
    assert cosine(r.json()[0], pooled[0]) >= 0.9999


def test_truncated_body_then_close_is_not_answered_with_5xx(server, reference):
    texts, pooled = reference
    partial = b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inputs\": \"ab"
    status = status_of(raw_exchange(server.url, partial, shutdown_write=True))
    assert status is None or 400 <= status < 500
    r = requests.post(server.url + "/embed", json={"inputs": texts[2]})
    assert r.status_code == 200 and cosine(r.json()[0], pooled[2]) >= 0.9999


def test_pipelined_requests_are_answered_in_order(server):
    a = body_request(b"/tokenize", b'{"inputs": "hello"}')
    b = body_request(b"/tokenize", b'{"inputs": "world"}')
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(a + b)
        out = b""
        while out.count(b"HTTP/1.1 200") < 2 or not out.rstrip().endswith(b"]]"):
            chunk = s.recv(65536)
            assert chunk, out
            out += chunk
    assert out.index(b'"hello"') < out.index(b'"world"')
