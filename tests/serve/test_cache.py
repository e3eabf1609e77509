"""The result cache: a repeat is answered from it (x-cache: hit, the same bytes, the hit
counter moves), output-changing parameters separate entries, --cache-entries 0 disables it.
x-cache tells a client whether anyone sent the same input before, so it is sent only with
--cache-header (test_leaks.py checks that it is absent by default)."""
import pytest
import requests

from conftest import Server, metric_value


@pytest.fixture(scope="module")
def server():
    s = Server("--http-threads", "2", "--cache-header")
    yield s
    assert s.terminate() == 0


def test_repeat_is_a_hit_with_the_same_body(server):
    body = {"inputs": ["cache test sentence one", "cache test sentence two"]}
    first = requests.post(server.url + "/embed", json=body)
    assert first.status_code == 200 and first.headers["x-cache"] == "miss"
    hits = metric_value(server.metrics(), "ember_cache_hits_total")
    again = requests.post(server.url + "/embed", json=body)
    assert again.headers["x-cache"] == "hit"
    assert again.content == first.content
    assert metric_value(server.metrics(), "ember_cache_hits_total") == hits + 2
    partial = requests.post(server.url + "/embed", json={"inputs": [body["inputs"][0], "cache test three"]})
    assert partial.headers["x-cache"] == "partial"
    assert partial.json()[0] == first.json()[0]
    text = server.metrics()
    assert metric_value(text, "ember_cache_entries") >= 3
    assert metric_value(text, "ember_cache_bytes") > 0


def test_output_changing_parameters_miss(server):
    body = {"inputs": "cache parameters sentence"}
    assert requests.post(server.url + "/embed", json=body).headers["x-cache"] == "miss"
    assert requests.post(server.url + "/embed", json=body).headers["x-cache"] == "hit"
    other = requests.post(server.url + "/embed", json={**body, "normalize": False})
    assert other.headers["x-cache"] == "miss"
    assert requests.post(server.url + "/embed", json={**body, "dimensions": 64}).headers["x-cache"] == "miss"
    assert requests.post(server.url + "/embed_all", json=body).headers["x-cache"] == "miss"
    assert requests.post(server.url + "/embed_all", json=body).headers["x-cache"] == "hit"


def test_cache_disabled_never_hits():
    s = Server("--cache-entries", "0", "--cache-header")
    try:
        body = {"inputs": "never cached"}
        for _ in range(3):
            r = requests.post(s.url + "/embed", json=body)
            assert r.status_code == 200 and r.headers["x-cache"] == "miss"
        assert metric_value(s.metrics(), "ember_cache_hits_total") == 0
    finally:
        assert s.terminate() == 0
