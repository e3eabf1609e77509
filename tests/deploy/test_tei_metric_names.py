"""/metrics under text-embeddings-inference's names, so that dashboards and autoscaling rules
written for TEI (router/src/prometheus.rs, core/src/queue.rs, router/src/http/server.rs of
huggingface/text-embeddings-inference) read Ember unchanged: a real `ember serve`, scraped
with the real Prometheus parser (prometheus_client), and the TEI series moving as requests
are served.
"""
import concurrent.futures
import re

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import Server

# name -> Prometheus type, as TEI's exporter (metrics-exporter-prometheus) declares them.
TEI_FAMILIES = {
    "te_queue_size": "gauge",
    "te_request_count": "counter",
    "te_request_success": "counter",
    "te_request_failure": "counter",
    "te_request_duration": "histogram",
    "te_request_tokenization_duration": "histogram",
    "te_request_queue_duration": "histogram",
    "te_request_inference_duration": "histogram",
    "te_batch_next_size": "histogram",
    "te_batch_next_tokens": "histogram",
}


class Scrape:
    def __init__(self, text):
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}

    def value(self, sample, **labels):
        """A sample's value by its exposed name (0 when the labelled series does not exist yet)."""
        for family in self.families.values():
            for s in family.samples:
                # prometheus_client names counter samples NAME_total; TEI exposes NAME.
                name = s.name[: -len("_total")] if family.type == "counter" else s.name
                if name == sample and s.labels == labels:
                    return s.value
        return 0.0


@pytest.fixture(scope="module")
def server():
    # One request of 8 inputs fills a batch (--max-batch-requests 8): the others wait in the queue.
    s = Server("--port", "0", "--grpc-port", "0", "--threads", "1", "--http-threads", "2",
               "--cache-entries", "0", "--no-inline-idle-batch", "--max-batch-requests", "8")
    yield s
    assert s.terminate() == 0


def scrape(server):
    r = requests.get(server.url + "/metrics", timeout=10)
    assert r.status_code == 200
    return Scrape(r.text)


def test_tei_families_have_tei_types_and_buckets(server):
    m = scrape(server)
    for name, kind in TEI_FAMILIES.items():
        assert name in m.families, f"{name} missing from /metrics"
        assert m.families[name].type == kind, name
    # Counters keep TEI's exposed names (no _total suffix): PromQL written for TEI uses them.
    assert re.search(r"^# TYPE te_request_count counter$", m.text, re.M)
    assert not re.search(r"^te_request_count_total", m.text, re.M)
    # TEI's duration buckets: 35 bounds, x1.5 from 15 us; batch sizes 1..4096, tokens 1..2^20.
    bounds = [s.labels["le"] for s in m.families["te_request_duration"].samples if s.name.endswith("_bucket")]
    assert len(bounds) == 36 and bounds[-1] == "+Inf"
    assert float(bounds[0]) == pytest.approx(1.5e-5) and float(bounds[34]) == pytest.approx(1e-5 * 1.5**35)
    sizes = [s.labels["le"] for s in m.families["te_batch_next_size"].samples if s.name.endswith("_bucket")]
    assert [float(b) for b in sizes[:-1]] == [2.0**i for i in range(13)]
    tokens = [s.labels["le"] for s in m.families["te_batch_next_tokens"].samples if s.name.endswith("_bucket")]
    assert [float(b) for b in tokens[:-1]] == [2.0**i for i in range(21)]


def test_tei_series_move_as_requests_are_served(server):
    before = scrape(server)
    text = "the queue moves as requests are served"
    singles = [("/embed", {"inputs": text}), ("/embed", {"inputs": [101, 7592, 102]}),  # token ids
               ("/v1/embeddings", {"input": text, "model": "m"})]
    batches = [("/embed", {"inputs": [text] * 4}), ("/v1/embeddings", {"input": [text, text], "model": "m"})]
    for path, body in singles + batches:
        assert requests.post(server.url + path, json=body, timeout=60).status_code == 200, path
    assert requests.post(server.url + "/embed", json={"inputs": []}, timeout=60).status_code == 400
    assert requests.post(server.url + "/tokenize", json={"inputs": text}, timeout=60).status_code == 200
    after = scrape(server)

    def delta(sample, **labels):
        return after.value(sample, **labels) - before.value(sample, **labels)

    assert delta("te_request_count", method="single") == 3
    assert delta("te_request_count", method="batch") == 3  # the empty batch counts, /tokenize not
    assert delta("te_request_success", method="single") == 3
    assert delta("te_request_success", method="batch") == 2
    assert delta("te_request_failure", err="validation") == 1
    assert delta("te_request_duration_count") == 5
    assert delta("te_request_duration_sum") > 0
    for stage in ("tokenization", "queue", "inference"):
        assert delta(f"te_request_{stage}_duration_count") == 5, stage
    assert delta("te_request_inference_duration_sum") > 0
    # Every computed input is in one batch (no cache): 1 + 1 + 1 + 4 + 2 sequences.
    assert delta("te_batch_next_size_sum") == 9
    assert delta("te_batch_next_size_count") >= 1
    assert delta("te_batch_next_tokens_sum") == delta("ember_batch_tokens_sum") > 0
    assert after.value("te_queue_size") == 0


def test_te_queue_size_counts_waiting_requests(server):
    """Eight clients at once on one compute thread, one request per batch: requests wait, and
    te_queue_size shows their inputs while they do (as TEI counts: read at scrape time, as
    ember_queue_inputs, eight per request not yet started), then returns to 0."""
    body = {"inputs": ["a sentence long enough that a batch of eight takes a while " * 3] * 8}
    seen = []

    def post(_):
        return requests.post(server.url + "/embed", json=body, timeout=120).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(post, i) for i in range(16)]
        while not all(f.done() for f in futures):
            m = scrape(server)
            seen.append(m.value("te_queue_size"))
            assert m.value("te_queue_size") == m.value("ember_queue_inputs")
            assert m.value("te_queue_size") <= 8 * m.value("ember_queue_depth")
        assert [f.result() for f in futures] == [200] * 16
    assert max(seen) >= 1, f"te_queue_size never above 0 while 16 requests queued: {seen}"
    assert scrape(server).value("te_queue_size") == 0
