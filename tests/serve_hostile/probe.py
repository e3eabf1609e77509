"""The well-behaved client of the hostile suite, in a process of its own (so that the attacks'
Python threads cannot slow its measurements down): small /embed and /health requests one after
another on one keep-alive connection, each /embed text new (never a cache hit), until a line
arrives on stdin; then one JSON line on stdout: the latencies and any failure.

usage: probe.py URL API_KEY FIRST_TEXT_NUMBER"""
import json
import sys
import threading
import time

import requests


def main():
    url, key, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    s = requests.Session()
    s.headers.update({"Authorization": f"Bearer {key}"})
    embed_ms, health_ms, failures = [], [], []
    print("ready", flush=True)
    i = first
    while not stop.is_set():
        i += 1
        t = time.perf_counter()
        try:
            r = s.post(url + "/embed", json={"inputs": f"probe {i}: a short sentence to embed"}, timeout=120)
            if r.status_code != 200 or len(r.json()[0]) != 384:
                failures.append(["embed", r.status_code, r.text[:200]])
        except requests.RequestException as e:
            failures.append(["embed", None, repr(e)])
        embed_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        try:
            r = s.get(url + "/health", timeout=120)
            if r.status_code != 200:
                failures.append(["health", r.status_code, r.text[:200]])
        except requests.RequestException as e:
            failures.append(["health", None, repr(e)])
        health_ms.append((time.perf_counter() - t) * 1000)
        stop.wait(0.01)
    print(json.dumps({"embed_ms": embed_ms, "health_ms": health_ms, "failures": failures}), flush=True)


if __name__ == "__main__":
    main()
