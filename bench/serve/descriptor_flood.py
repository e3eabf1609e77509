"""The acceptor at the file-descriptor limit, measured: `ember serve` under RLIMIT_NOFILE 256,
400 idle connections; prints the server's CPU share over 3 s (utime + stime from /proc), how an
existing keep-alive connection and a new client fare during the flood, and how soon a new client
is served after the 400 close.

    .venv/bin/python bench/serve/descriptor_flood.py build/src/cli/ember [serve flags...]

e.g. `... --max-connections 100000` for the EMFILE path (docs/security.md)."""
import json
import os
import resource
import socket
import subprocess
import sys
import time

import requests

LIMIT, FLOOD = 256, 400


def main():
    ember, extra = sys.argv[1], sys.argv[2:]

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))

    p = subprocess.Popen([ember, "serve", "--port", "0", "--grpc-port", "0", *extra], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, preexec_fn=limit)
    port = json.loads(p.stdout.readline())["port"]
    url = f"http://127.0.0.1:{port}"

    def cpu():
        f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def attempt(label, session):
        t = time.monotonic()
        try:
            status = session.post(url + "/embed", json={"inputs": label}, timeout=20).status_code
        except requests.RequestException as e:
            status = type(e).__name__
        print(f"{label}: {status} in {time.monotonic() - t:.3f} s")

    existing = requests.Session()
    existing.post(url + "/embed", json={"inputs": "warm"})
    hogs = [socket.create_connection(("127.0.0.1", port)) for _ in range(FLOOD)]
    c0, t0 = cpu(), time.monotonic()
    time.sleep(3)
    print(f"server CPU over {time.monotonic() - t0:.1f} s: {100 * (cpu() - c0) / (time.monotonic() - t0):.0f}%")
    attempt("existing connection", existing)
    attempt("new client", requests)
    for h in hogs:
        h.close()
    t = time.monotonic()
    while True:
        try:
            if requests.post(url + "/embed", json={"inputs": "after"}, timeout=5).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.05)
    print(f"after the {FLOOD} closed: a new client served {time.monotonic() - t:.3f} s later")
    p.terminate()
    p.wait()


if __name__ == "__main__":
    main()
