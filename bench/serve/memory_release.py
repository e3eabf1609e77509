"""Resident memory of `ember serve` after memory spikes, under each malloc setting: whether
memory freed after a large request goes back to the system. Each configuration gets a fresh
server and the same spikes, each followed by 1.5 s idle, then VmRSS: 4 x 2 /tokenize of 200 KB
of "!", 3 concurrent /embed_all of 40 x 256 token ids, 2 concurrent /embed of 1 MB of "!" with
truncation, 200 connections holding 1.5 MB of announced 2 MB bodies (then closed); last, the
median latency of 60 small /embed requests. --preload LIB adds a run with another allocator
(LD_PRELOAD, glibc settings off), e.g. Debian's libjemalloc2 or libmimalloc2.0.

usage: python bench/serve/memory_release.py [--ember build/src/cli/ember] [--preload LIB]...
           [--out bench/results/<date>-serve-memory-release.json]
"""
import argparse
import datetime
import json
import os
import socket
import statistics
import subprocess
import threading
import time

import requests

GLIBC_DEFAULT = ["--malloc-arena-max", "0", "--malloc-mmap-threshold", "0", "--malloc-trim-interval-ms", "0"]
CONFIGS = [
    ("glibc defaults", GLIBC_DEFAULT, None),
    ("arena max 2", ["--malloc-arena-max", "2", "--malloc-mmap-threshold", "0", "--malloc-trim-interval-ms", "0"], None),
    ("mmap threshold 256 KiB", ["--malloc-arena-max", "0", "--malloc-mmap-threshold", "262144",
                                "--malloc-trim-interval-ms", "0"], None),
    ("malloc_trim after large releases", ["--malloc-arena-max", "0", "--malloc-mmap-threshold", "0",
                                          "--malloc-trim-interval-ms", "1000"], None),
    ("all three (ember serve's defaults)", [], None),
]


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024


def run(ember, flags, preload):
    env = dict(os.environ)
    if preload:
        env["LD_PRELOAD"] = preload
    p = subprocess.Popen([ember, "serve", "--port", "0", "--grpc-port", "0", *flags], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, env=env)
    port = json.loads(p.stdout.readline())["port"]
    url = f"http://127.0.0.1:{port}"
    mib = lambda b: round(b / 2**20)
    requests.post(url + "/embed", json={"inputs": "warm up " * 50})
    out = {"rss_start_mib": mib(status(p.pid, "VmRSS"))}

    def parallel(n, fn):
        ts = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
        [t.start() for t in ts]
        [t.join() for t in ts]

    def settle(name):
        time.sleep(1.5)
        out[name] = mib(status(p.pid, "VmRSS"))

    parallel(4, lambda i: [requests.post(url + "/tokenize", json={"inputs": "!" * 200_000}) for _ in range(2)])
    settle("after_tokenize_mib")
    ids = [[101] + [1000 + (i * 7 + j) % 20000 for j in range(254)] + [102] for i in range(40)]
    parallel(3, lambda i: requests.post(url + "/embed_all", json={"inputs": ids[i:] + ids[:i]}))
    settle("after_embed_all_mib")
    parallel(2, lambda i: requests.post(url + "/embed", json={"inputs": "!" * 1_000_000, "truncate": True}))
    settle("after_long_texts_mib")
    socks = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 2000000\r\n\r\n" + b"x" * 1_500_000)
        socks.append(s)
    time.sleep(1)
    out["during_partial_bodies_mib"] = mib(status(p.pid, "VmRSS"))
    for s in socks:
        s.close()
    settle("after_partial_bodies_mib")
    lat = []
    for i in range(60):
        t = time.perf_counter()
        requests.post(url + "/embed", json={"inputs": f"a small request number {i}"})
        lat.append((time.perf_counter() - t) * 1000)
    out["small_embed_p50_ms"] = round(statistics.median(lat), 2)
    out["peak_mib"] = mib(status(p.pid, "VmHWM"))
    p.terminate()
    p.wait()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ember", default="build/src/cli/ember")
    ap.add_argument("--preload", action="append", default=[])
    ap.add_argument("--out")
    a = ap.parse_args()
    configs = CONFIGS + [(os.path.basename(lib) + " (LD_PRELOAD)", GLIBC_DEFAULT, lib) for lib in a.preload]
    rows = []
    for name, flags, preload in configs:
        rows.append({"config": name, "flags": " ".join(flags), **run(a.ember, flags, preload)})
        print(rows[-1], flush=True)
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "rows": rows}
    if a.out:
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
