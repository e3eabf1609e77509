"""Attacks over KServe v2 gRPC (tritonclient), against the suite's server: large texts
tokenized concurrently, and calls whose deadline passes before they are computed."""
import concurrent.futures
import threading
import time

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from conftest import KEY, MODEL

HEADERS = {"authorization": f"Bearer {KEY}"}


def infer(server, texts, timeout=None, truncate=True, client=None):
    """One ModelInfer (on a new connection unless `client`); returns "OK" or the gRPC status."""
    c = client or grpcclient.InferenceServerClient(url=server.grpc_url)
    inp = grpcclient.InferInput("text", [len(texts)], "BYTES")
    inp.set_data_from_numpy(np.array(texts, dtype=object))
    try:
        res = c.infer(MODEL, [inp], headers=HEADERS, parameters={"truncate": truncate},
                      client_timeout=timeout)
        assert res.as_numpy("embedding").shape == (len(texts), 384)
        return "OK"
    except InferenceServerException as e:
        return e.status().removeprefix("StatusCode.")
    finally:
        if client is None:
            c.close()


def test_a_huge_text_is_refused_before_it_is_tokenized(server, attack):
    """A 1.9 MB text with truncate cost ~470 MB while tokenized: more than one request may hold
    under this budget, so it is refused before tokenization."""
    attack.name = "gRPC 1.9 MB text, truncate"
    with attack.probe:
        got = infer(server, ["!" * 1_900_000])
    assert got == "INVALID_ARGUMENT"


def test_concurrent_large_texts_are_tokenized_within_bounds(server, attack):
    """16 concurrent calls of 0.5 MB texts with truncate reached 7.75 GB at 1.9 MB each: they are
    tokenized on the large-request thread, one at a time, each within the budget; calls still
    waiting when their 8 s deadline passes are not tokenized at all."""
    attack.name = "gRPC 16 x 0.5 MB texts concurrently"
    with attack.probe:
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda i: infer(server, [("!" if i % 2 else "a ") * 250_000], timeout=8),
                                    range(16)))
    assert set(results) <= {"OK", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "UNAVAILABLE"}, results
    assert "OK" in results
    attack.extra["calls"] = {r: results.count(r) for r in set(results)}


def test_calls_past_their_deadline_are_not_computed(server, attack):
    """100 calls with a 0.2 s deadline, 8 inputs of ~250 tokens each: all 800 inputs used to be
    computed (12.6 s of CPU). A call whose deadline passed is dropped before compute."""
    attack.name = "gRPC 100 calls, 0.2 s deadline"
    sequences_before = server.metric("ember_batch_size_sum")
    dropped_metrics = ("ember_requests_dropped_deadline_total", "ember_requests_dropped_disconnected_total")
    dropped_before = sum(server.metric(m) for m in dropped_metrics)

    ready = threading.Barrier(100)

    def call(i):
        texts = [f"call {i} input {j}: " + " ".join(f"word{(i * 8 + j) * 300 + k}" for k in range(120))
                 for j in range(8)]
        c = grpcclient.InferenceServerClient(url=server.grpc_url)
        try:
            assert c.is_server_live()  # connected before the clock starts
            ready.wait()
            return infer(server, texts, timeout=0.2, client=c)
        finally:
            c.close()

    with attack.probe:
        with concurrent.futures.ThreadPoolExecutor(100) as pool:
            results = list(pool.map(call, range(100)))
    # The calls ended at their deadline; the server drops them when the batch in progress ends.
    end = time.monotonic() + 120
    while server.metric("ember_batcher_pending_requests") > 0 and time.monotonic() < end:
        time.sleep(0.05)
    computed = server.metric("ember_batch_size_sum") - sequences_before
    dropped = sum(server.metric(m) for m in dropped_metrics) - dropped_before
    late = server.metrics().count('route="/inference.GRPCInferenceService/ModelInfer",status="504"')
    # The probe's own requests are in the batch count too (one input each).
    probe_inputs = len(attack.probe.embed_ms)
    attack.extra.update(calls={r: results.count(r) for r in set(results)},
                        inputs_computed=int(computed - probe_inputs), calls_dropped_in_queue=int(dropped))
    assert set(results) <= {"OK", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"}, results
    assert computed - probe_inputs < 800, f"{computed} sequences computed"
    assert dropped > 0 or late, "no call was dropped before compute"
    assert computed - probe_inputs + 8 * (dropped + late) <= 800
