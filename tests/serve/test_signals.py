"""Signals and the drain, on a real `ember serve`: SIGPIPE and SIGUSR1/2 are ignored, SIGHUP
drains as SIGTERM does, a second signal during the drain cuts it short (the requests still
waiting get 503, exit code 6), and --drain-timeout bounds the drain the same way.

The long drains come from requests that queue many seconds of compute (one compute thread,
small batches, no cache); --no-inline-idle-batch keeps all compute on the scheduler thread so
that the I/O threads answer at once when the drain is cut."""
import json
import signal
import threading

import requests

from conftest import Server, metric_value

CUT_EXIT = 6  # serve/server.h kExitDrainCut


def slow_server(*extra):
    return Server("--threads", "1", "--max-batch-tokens", "2048", "--cache-entries", "0",
                  "--no-inline-idle-batch", *extra)


def start_requests(s, texts, n, inputs=256):
    """n clients, each sending `inputs` long texts (distinct, truncated to 256 tokens);
    returns their threads and results (status code, or "closed")."""
    results = [None] * n

    def send(i):
        big = [f"{i} {j} " + " ".join(texts[4:9]) * 2 for j in range(inputs)]
        try:
            r = requests.post(s.url + "/embed", json={"inputs": big, "truncate": True}, timeout=600)
            results[i] = r.status_code
        except requests.ConnectionError:
            results[i] = "closed"

    threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results


def wait_in_flight(s, results, n):
    """Until n requests are inside the batcher (or some already answered)."""
    while metric_value(s.metrics(), "ember_batcher_pending_requests") < n:
        assert all(r is None for r in results), f"answered before all were queued: {results}"


def wait_draining(s, probe):
    """Until the server drains: an open keep-alive connection gets 503, or new ones are refused."""
    while True:
        try:
            if probe.get(s.url + "/health", timeout=60).status_code == 503:
                return
        except requests.ConnectionError:
            return


def stopped_line(s):
    lines = [json.loads(line) for line in s.proc.stdout.read().splitlines() if line.strip()]
    assert lines and lines[-1]["event"] == "stopped", lines
    return lines[-1]


def test_sigpipe_and_sigusr_are_ignored():
    s = Server()
    try:
        for sig in (signal.SIGPIPE, signal.SIGUSR1, signal.SIGUSR2):
            s.proc.send_signal(sig)
            r = requests.post(s.url + "/embed", json={"inputs": f"still here after {sig.name}"})
            assert r.status_code == 200 and len(r.json()[0]) == 384
            assert s.proc.poll() is None
    finally:
        assert s.terminate() == 0
    assert stopped_line(s) == {"event": "stopped", "drain": "complete"}


def test_sighup_drains_like_sigterm(reference):
    texts, _ = reference
    s = slow_server()
    try:
        threads, results = start_requests(s, texts, 1, inputs=48)
        wait_in_flight(s, results, 1)
        s.proc.send_signal(signal.SIGHUP)
        assert s.proc.wait(timeout=300) == 0
        for t in threads:
            t.join()
        assert results == [200]
        assert stopped_line(s) == {"event": "stopped", "drain": "complete"}
    finally:
        if s.proc.poll() is None:
            s.proc.kill()


def test_second_signal_cuts_the_drain(reference):
    """SIGTERM starts a drain of many seconds of queued work; SIGINT then ends it: every request
    still waiting is answered 503 (none is computed to the end), and the exit code says so."""
    texts, _ = reference
    s = slow_server("--drain-timeout", "0")
    n = 4
    try:
        threads, results = start_requests(s, texts, n)
        wait_in_flight(s, results, n)
        probe = requests.Session()
        assert probe.get(s.url + "/health").status_code == 200
        s.proc.send_signal(signal.SIGTERM)
        wait_draining(s, probe)
        s.proc.send_signal(signal.SIGINT)
        assert s.proc.wait(timeout=300) == CUT_EXIT
        for t in threads:
            t.join()
        assert results.count(503) == n, results
        assert stopped_line(s) == {"event": "stopped", "drain": "cut", "reason": "signal",
                                   "signal": int(signal.SIGINT), "unanswered": n}
    finally:
        if s.proc.poll() is None:
            s.proc.kill()


def test_drain_timeout_bounds_the_drain(reference):
    texts, _ = reference
    s = slow_server("--drain-timeout", "0.5")
    n = 4
    try:
        threads, results = start_requests(s, texts, n)
        wait_in_flight(s, results, n)
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=300) == CUT_EXIT
        for t in threads:
            t.join()
        assert results.count(503) == n, results
        assert stopped_line(s) == {"event": "stopped", "drain": "cut", "reason": "drain-timeout",
                                   "unanswered": n}
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
