"""Replicas on one machine, for real: three `ember serve` processes, each in its own network
namespace (a veth pair to the host), behind nginx with an upstream that retries embedding
requests on the next replica (docs/deploy.md). Load runs through nginx from client threads while
one replica is killed (SIGKILL) and, then, another drains (SIGTERM); every request must be
answered 200 with the embeddings a single replica gives for it.

Needs root (network namespaces), `ip` (iproute2) and `nginx` (scripts/setup.sh installs both).
It fails, not skips, when namespaces cannot be made. Namespaces, veths and processes are
removed whatever happens.
"""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import numpy as np
import pytest
import requests

from conftest import SOURCE_DIR, Server, die_with_parent, free_port, require_tool

TAG = f"emb{os.getpid()}"  # interface names stay under 15 characters (pid_max <= 4194304)
SUBNET = f"198.18.{os.getpid() % 250}"  # RFC 2544 benchmarking range: no real network there
REPLICAS = 3
PORT = 8080
DEADLINE_S = 55  # the whole test, load phases included; each wait below is bounded by it

NGINX_CONF = """
# One process (no master): it dies with the test even when the test is killed (die_with_parent);
# a master's workers would outlive it.
master_process off;
daemon off;
user root;
pid {dir}/nginx.pid;
events {{ worker_connections 512; }}
http {{
  log_format upstreams '$status "$upstream_addr" "$upstream_status"';
  access_log {dir}/access.log upstreams;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream ember {{
{servers}
    keepalive 32;
  }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 2m;
    location / {{
      proxy_pass http://ember;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # An embedding request is a pure function of its body: sending it again to another
      # replica cannot do anything twice, so POSTs are retried too (non_idempotent).
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
      proxy_next_upstream_tries 3;
      proxy_connect_timeout 1s;
      proxy_read_timeout 60s;
    }}
  }}
}}
"""


def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=20)


class Namespace:
    """A network namespace joined to the host by a veth pair: host side .4i+1, inside .4i+2."""

    def __init__(self, i):
        self.name = f"{TAG}-r{i}"
        self.host_if, self.ns_if = f"{TAG}h{i}", f"{TAG}n{i}"
        self.host_ip, self.ip = f"{SUBNET}.{4 * i + 1}", f"{SUBNET}.{4 * i + 2}"

    def create(self):
        r = run("ip", "netns", "add", self.name)
        if r.returncode != 0:
            pytest.fail(
                f"cannot create network namespace {self.name} (`ip netns add`: {r.stderr.strip()}); "
                "this test needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2"
            )
        for argv in (
            ("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if, "netns", self.name),
            ("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if),
            ("ip", "link", "set", self.host_if, "up"),
            ("ip", "-n", self.name, "addr", "add", f"{self.ip}/30", "dev", self.ns_if),
            ("ip", "-n", self.name, "link", "set", self.ns_if, "up"),
            ("ip", "-n", self.name, "link", "set", "lo", "up"),
        ):
            r = run(*argv)
            if r.returncode != 0:
                pytest.fail(f"cannot set up the veth pair of {self.name}: {' '.join(argv)}: {r.stderr.strip()}")

    def delete(self):
        run("ip", "link", "del", self.host_if)  # takes its peer along
        run("ip", "netns", "del", self.name)


def remove_stale_namespaces():
    """Namespaces and veths left by a run of this test that was killed (its pid is gone)."""
    for line in run("ip", "netns", "list").stdout.splitlines():
        m = re.match(r"^emb(\d+)-r(\d+)\b", line)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            run("ip", "link", "del", f"emb{m.group(1)}h{m.group(2)}")
            run("ip", "netns", "del", m.group(0))


def wait_until(condition, what, deadline):
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def pending(server):
    """Requests queued or computing on one replica, read from its /metrics (straight to it)."""
    try:
        text = requests.get(server.url + "/metrics", timeout=2).text
    except requests.RequestException:
        return 0
    return float(re.search(r"^ember_batcher_pending_requests (\S+)$", text, re.M).group(1))


class Load:
    """Client threads posting /embed through nginx in a loop; each answer is checked against
    the single-replica answer for the same inputs."""

    def __init__(self, url, batches, expected, threads=6):
        self.url, self.batches, self.expected = url, batches, expected
        self.answered = 0
        self.failures = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(t,), daemon=True) for t in range(threads)]
        for t in self.threads:
            t.start()

    def _client(self, t):
        session = requests.Session()
        k = t
        while not self.stop.is_set():
            i = k % len(self.batches)
            k += 1
            try:
                r = session.post(self.url + "/embed", json={"inputs": self.batches[i]}, timeout=30)
                ok = r.status_code == 200 and np.abs(np.asarray(r.json()) - self.expected[i]).max() < 1e-4
                problem = None if ok else f"{r.status_code} {r.text[:200]}"
            except requests.RequestException as e:
                problem = repr(e)
            with self.lock:
                self.answered += 1
                if problem:
                    self.failures.append(problem)

    def count(self):
        with self.lock:
            return self.answered

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=40)
        assert not any(t.is_alive() for t in self.threads), "a client thread hung"


@pytest.fixture
def cluster(tmp_path):
    """Namespaces, replicas and nginx; all removed on the way out, test failed or not."""
    require_tool("ip", "install iproute2")
    nginx = require_tool("nginx", "install the Debian package nginx (scripts/setup.sh)")
    remove_stale_namespaces()
    namespaces = [Namespace(i) for i in range(REPLICAS)]
    replicas, nginx_proc = [], None
    try:
        for ns in namespaces:
            ns.create()
        for ns in namespaces:  # all load their model at once
            replicas.append(Server("--host", ns.ip, "--port", str(PORT), "--grpc-port", "0", "--threads", "1",
                                   "--http-threads", "2", "--cache-entries", "0", "--drain-timeout", "20",
                                   prefix=("ip", "netns", "exec", ns.name), wait=False))
        for s in replicas:
            s.wait_listening()
        port = free_port()
        servers = "\n".join(f"    server {ns.ip}:{PORT};" for ns in namespaces)
        conf = tmp_path / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=tmp_path, servers=servers, port=port))
        nginx_proc = subprocess.Popen([nginx, "-e", str(tmp_path / "error.log"), "-p", str(tmp_path), "-c", str(conf)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=die_with_parent)

        def listening():
            assert nginx_proc.poll() is None, f"nginx exited: {nginx_proc.stderr.read().decode()}"
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, "nginx to listen", time.monotonic() + 10)
        yield {"url": f"http://127.0.0.1:{port}", "replicas": replicas, "log": tmp_path / "access.log"}
    finally:
        if nginx_proc and nginx_proc.poll() is None:
            nginx_proc.terminate()
            try:
                nginx_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx_proc.kill()
                nginx_proc.wait()
        for s in replicas:
            if s.proc.poll() is None:
                s.kill()
        for ns in namespaces:
            ns.delete()


def test_no_request_is_lost_when_a_replica_dies_or_drains(cluster):
    deadline = time.monotonic() + DEADLINE_S
    url, (a, b, c) = cluster["url"], cluster["replicas"]
    batches = [[f"request {i}, sentence {j}: replicas behind nginx keep answering" for j in range(8)]
               for i in range(12)]
    # The single-replica answers: each batch straight from one replica, before any load.
    expected = []
    for batch in batches:
        r = requests.post(c.url + "/embed", json={"inputs": batch}, timeout=30)
        assert r.status_code == 200
        expected.append(np.asarray(r.json()))
    assert len({e.tobytes() for e in expected}) == len(batches)  # distinct: a swap would show

    # SIGKILL while requests are on the replica: nginx sees the connection reset and retries.
    load = Load(url, batches, expected)
    try:
        wait_until(lambda: load.count() >= 12, "answers through nginx", deadline)
        wait_until(lambda: pending(a) >= 1, "a request in flight on the replica to kill", deadline)
        a.kill()
        after_kill = load.count()
        wait_until(lambda: load.count() >= after_kill + 24, "answers after the SIGKILL", deadline)
    finally:
        load.finish()
    assert not load.failures, f"{len(load.failures)} of {load.answered} requests failed: {load.failures[:3]}"
    log = cluster["log"].read_text().splitlines()
    killed = f"{a.listening['address']}:{PORT}"
    retried = [line for line in log if killed in line and "," in line.split('"')[1]]
    assert retried, "no request was retried away from the killed replica (was one in flight?)"
    assert all(line.startswith("200 ") for line in log)

    # SIGTERM: the replica drains (in-flight requests answered, new ones refused and retried by
    # nginx on the last replica) and exits 0.
    load = Load(url, batches, expected)
    try:
        wait_until(lambda: pending(b) >= 1, "a request in flight on the replica to drain", deadline)
        b.signal(signal.SIGTERM)
        wait_until(lambda: b.proc.poll() is not None, "the drained replica to exit", deadline)
        after_drain = load.count()
        wait_until(lambda: load.count() >= after_drain + 24, "answers after the drain", deadline)
    finally:
        load.finish()
    assert not load.failures, f"{len(load.failures)} of {load.answered} requests failed: {load.failures[:3]}"
    assert b.proc.returncode == 0
    assert '"drain":"complete"' in b.stdout()
    assert c.proc.poll() is None


def test_docs_show_the_proxy_settings_this_test_runs():
    """docs/deploy.md's nginx location block is the one tested here (less comments)."""

    def proxy_directives(text):
        location = text[text.index("location / {"):]
        return sorted({re.sub(r"\s+", " ", line.split("#")[0]).strip()
                       for line in location.splitlines() if line.strip().startswith("proxy_")})

    docs = (SOURCE_DIR / "docs/deploy.md").read_text()
    block = re.search(r"```nginx\n(.*?)```", docs, re.S)
    assert block, "docs/deploy.md has no nginx block"
    assert proxy_directives(block.group(1)) == proxy_directives(NGINX_CONF)
