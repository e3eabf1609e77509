"""The hostile suite's server, probes and report (tests/serve_hostile, issue #20).

One `ember serve` on loopback with a small memory budget (--max-memory 1 GiB) and an API key
takes every attack in turn. During each attack a well-behaved client (the probe) sends small
/embed and /health requests on one keep-alive connection; its latencies are reported per
attack (printed at the end, and written as JSON to EMBER_HOSTILE_REPORT, which ctest points
into the build directory), never asserted. What is asserted: the server's peak resident
memory (VmHWM, reset before each attack) stays under --max-memory, no answer is a 5xx, every
probe request succeeds, and the server is alive and exits 0 on SIGTERM.
"""
import itertools
import json
import os
import pathlib
import signal
import socket
import statistics
import subprocess
import sys
import threading

import pytest
import requests

_probe_texts = itertools.count()  # each probe's texts are new: never answered from the cache
SOURCE_DIR = pathlib.Path(os.environ.get("EMBER_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
MODEL = "all-MiniLM-L6-v2"
KEY = "hostile-suite-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
MAX_MEMORY = 1 << 30
MiB = 1 << 20

# The server every attack but two runs against: 1 GiB in all, 2048-token batches (a batch of
# 16384 tokens takes seconds on two cores: the wait a small request can have behind one),
# a 32 MiB result cache, gRPC on.
SERVER_FLAGS = [
    "--max-memory", str(MAX_MEMORY),
    "--max-batch-tokens", "2048",
    "--cache-bytes", str(32 * MiB),
    "--api-key", KEY,
    "--http-threads", "2",
]


def ember_bin():
    path = os.environ.get("EMBER_BIN")
    if not path:
        pytest.fail("EMBER_BIN is not set: run these tests through ctest")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `ember serve` process on loopback; stop() sends SIGTERM and returns the exit code."""

    def __init__(self, *flags, model=MODEL, grpc=False):
        args = [ember_bin(), "serve", "--model", str(model), "--port", "0", *flags]
        args += ["--grpc-port", str(free_port()) if grpc else "0"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()
            self.proc.wait()
            raise RuntimeError(f"ember serve exited ({self.proc.returncode}) before listening: {err}")
        self.listening = json.loads(line)
        self.port = self.listening["port"]
        self.url = f"http://127.0.0.1:{self.port}"
        self.grpc_url = f"127.0.0.1:{self.listening['grpc_port']}" if grpc else None
        self.stderr = []
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def status(self, key):
        """VmHWM / VmRSS ... of the server in bytes, from /proc/PID/status."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        raise KeyError(key)

    def reset_peak(self):
        """Resets VmHWM to the current VmRSS (clear_refs 5), so the next peak is one attack's."""
        with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
            f.write("5")

    def metrics(self):
        r = requests.get(self.url + "/metrics", headers=AUTH, timeout=60)
        r.raise_for_status()
        return r.text

    def metric(self, name):
        for line in self.metrics().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise KeyError(name)

    def server_errors(self):
        """Requests answered with a 5xx, all routes together; not the gRPC calls that ran past
        the deadline their client set (DEADLINE_EXCEEDED, counted as 504): on a loaded machine
        more of the deadline attack's calls expire there instead of in the queue."""
        total = 0
        for line in self.metrics().splitlines():
            if not line.startswith("ember_http_requests_total{") or 'status="5' not in line:
                continue
            if 'route="/inference.GRPCInferenceService/' in line and 'status="504"' in line:
                continue
            total += float(line.split()[-1])
        return total

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


class Probe:
    """The well-behaved client (probe.py, in a process of its own) for the length of a `with`
    block: embed_ms, health_ms and failures once it has ended."""

    def __init__(self, server):
        self.server = server
        self.embed_ms, self.health_ms, self.failures = [], [], []

    def __enter__(self):
        self.proc = subprocess.Popen(
            [sys.executable, str(pathlib.Path(__file__).with_name("probe.py")), self.server.url, KEY,
             str(next(_probe_texts) * 100_000)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        return self

    def __exit__(self, *exc):
        out, _ = self.proc.communicate("stop\n", timeout=300)
        result = json.loads(out)
        self.embed_ms, self.health_ms = result["embed_ms"], result["health_ms"]
        self.failures = result["failures"]

    @staticmethod
    def summary(ms):
        if not ms:
            return {"n": 0}
        ms = sorted(ms)
        p99 = ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]
        return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p99_ms": round(p99, 1),
                "max_ms": round(ms[-1], 1)}


class Report:
    def __init__(self):
        self.attacks = {}

    def add(self, name, server, probe, **extra):
        entry = {"peak_rss_mib": round(server.status("VmHWM") / MiB, 1),
                 "budget_mib": round(MAX_MEMORY / MiB, 1),
                 "probe_embed": Probe.summary(probe.embed_ms) if probe else None,
                 "probe_health": Probe.summary(probe.health_ms) if probe else None}
        entry.update(extra)
        self.attacks[name] = entry
        return entry


@pytest.fixture(scope="session")
def report(request):
    rep = Report()
    yield rep
    path = os.environ.get("EMBER_HOSTILE_REPORT")
    doc = {"machine": {"cpus": os.cpu_count()}, "server_flags": SERVER_FLAGS, "attacks": rep.attacks}
    if path:
        pathlib.Path(path).write_text(json.dumps(doc, indent=2) + "\n")
    request.config._hostile_report = doc


def pytest_terminal_summary(terminalreporter, config):
    doc = getattr(config, "_hostile_report", None)
    if not doc:
        return
    tr = terminalreporter
    tr.section("hostile suite: a small client's latency during each attack (goal p99 < 50 ms)")
    tr.write_line(f"{'attack':34s} {'peak RSS':>10s} {'embed p50':>10s} {'embed p99':>10s} "
                  f"{'health p99':>11s}  n")
    for name, a in doc["attacks"].items():
        e, h = a.get("probe_embed") or {}, a.get("probe_health") or {}
        tr.write_line(f"{name:34s} {a['peak_rss_mib']:>8.0f}Mi {e.get('p50_ms', '-'):>10} "
                      f"{e.get('p99_ms', '-'):>10} {h.get('p99_ms', '-'):>11}  {e.get('n', 0)}")
    path = os.environ.get("EMBER_HOSTILE_REPORT")
    if path:
        tr.write_line(f"written to {path}")


@pytest.fixture(scope="session")
def server():
    s = Server(*SERVER_FLAGS, grpc=True)
    # Warm up: the first batches pay for the kernels' one-time setup.
    for i in range(3):
        assert requests.post(s.url + "/embed", json={"inputs": f"warm up {i}"}, headers=AUTH).status_code == 200
    yield s
    assert s.alive(), "the server died"
    assert s.server_errors() == 0
    assert s.stop() == 0, "".join(s.stderr)


@pytest.fixture
def attack(server, report):
    """Runs one attack: resets the peak, starts the probe; afterwards checks the invariants
    (peak under budget, probe all 200, no 5xx, alive) and records the numbers."""

    class Attack:
        def __init__(self):
            self.extra = {}

    a = Attack()
    errors_before = server.server_errors()
    server.reset_peak()
    probe = Probe(server)
    a.probe = probe
    yield a
    peak = server.status("VmHWM")
    entry = report.add(a.name, server, probe, **a.extra)
    assert server.alive(), "the server died"
    assert peak <= MAX_MEMORY, f"peak RSS {peak / MiB:.0f} MiB over --max-memory {MAX_MEMORY / MiB:.0f} MiB"
    assert not probe.failures, f"the well-behaved client failed: {probe.failures[:3]}"
    assert probe.embed_ms, "the probe never ran"
    assert server.server_errors() == errors_before, "a 5xx was answered"
    assert entry["peak_rss_mib"] * MiB <= MAX_MEMORY


def raw_connect(server):
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def http_request(path, body, auth=True, length=None):
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if auth:
        head += f"Authorization: Bearer {KEY}\r\n"
    head += f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    return head.encode() + body


def read_status(sock, timeout):
    """The status code of the first response on sock, or None if none came within timeout."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    if not data.startswith(b"HTTP/1.1 "):
        return None
    return int(data.split()[1])
