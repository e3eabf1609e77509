"""How fast a drain ends, measured: a one-thread `ember serve` with 4 clients each posting 256
inputs of 256 tokens (minutes of queued compute on 2 cores), then SIGTERM and, by mode:

    second   SIGTERM again 0.2 s later (cuts the drain)
    timeout  --drain-timeout 1 (cuts it after 1 s)
    none     nothing more (the default --drain-timeout, or the full drain on an older binary)

Prints the exit code, when each client got its answer and when the process exited (seconds
after the signal that ends the drain), and the "stopped" line.

    .venv/bin/python bench/serve/drain_cut.py build/src/cli/ember second"""
import json
import signal
import subprocess
import sys
import threading
import time

import requests


def main():
    ember, mode = sys.argv[1], sys.argv[2]
    extra = {"second": ["--drain-timeout", "0"], "timeout": ["--drain-timeout", "1"], "none": []}[mode]
    p = subprocess.Popen([ember, "serve", "--port", "0", "--grpc-port", "0", "--threads", "1",
                          "--max-batch-tokens", "2048", "--cache-entries", "0", "--no-inline-idle-batch", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = f"http://127.0.0.1:{json.loads(p.stdout.readline())['port']}"
    text = "The quick brown fox jumps over the lazy dog near the riverbank at dawn. " * 30
    done = {}

    def send(i):
        try:
            r = requests.post(url + "/embed", json={"inputs": [f"{i} {j} {text}" for j in range(256)],
                                                    "truncate": True}, timeout=900)
            done[i] = (r.status_code, time.monotonic())
        except requests.RequestException as e:
            done[i] = (type(e).__name__, time.monotonic())

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    while True:  # until all 4 are in the batcher
        m = requests.get(url + "/metrics").text
        if any(line.startswith("ember_batcher_pending_requests ") and float(line.split()[1]) >= 4
               for line in m.splitlines()):
            break
    time.sleep(0.5)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    if mode == "second":
        time.sleep(0.2)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
    rc = p.wait()
    exit_s = time.monotonic() - t0
    for t in threads:
        t.join()
    answers = sorted((status, round(at - t0, 2)) for status, at in done.values())
    print(f"{mode}: exit {rc} after {exit_s:.2f} s; answers (status, s): {answers}")
    print(p.stdout.read().strip())


if __name__ == "__main__":
    main()
