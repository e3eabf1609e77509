"""The acceptor at the file-descriptor limit: a server started with RLIMIT_NOFILE 256 and
flooded with 400 idle connections must not spin (its CPU time over a few seconds stays well
under the wall time: a check that it does not busy-loop, not a speed threshold), must keep
answering a connection it already had, and must serve new clients once the flood closes.

Two ways to meet the limit: the default --max-connections (the descriptor limit less a
reserve), where the acceptor sheds connections that never sent a request so that a new client
is served even during the flood; and --max-connections above the descriptor limit, where
accept() fails with EMFILE and the acceptor refuses pending connections with its reserved
descriptor (the client sees the connection closed at once instead of hanging) and pauses."""
import os
import resource
import socket
import time

import pytest
import requests

from conftest import Server

LIMIT = 256
FLOOD = 400


def low_descriptor_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


def cpu_seconds(pid):
    """utime + stime of the process (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def served(url, timeout=60):
    r = requests.post(url + "/embed", json={"inputs": "a new client"}, timeout=timeout)
    return r.status_code == 200 and len(r.json()[0]) == 384


@pytest.mark.parametrize("mode", ["connection-limit", "emfile"])
def test_acceptor_at_the_descriptor_limit(mode):
    extra = ["--max-connections", "100000"] if mode == "emfile" else []
    s = Server("--http-threads", "2", *extra, preexec_fn=low_descriptor_limit)
    host, port = s.listening["address"], s.listening["port"]
    hogs = []
    try:
        existing = requests.Session()
        assert existing.post(s.url + "/embed", json={"inputs": "before the flood"}).status_code == 200

        # The kernel completes each handshake from the listen queue whether or not the server
        # accepts, so all 400 connect.
        for _ in range(FLOOD):
            hogs.append(socket.create_connection((host, port), timeout=30))

        before, start = cpu_seconds(s.proc.pid), time.monotonic()
        time.sleep(3)
        used, wall = cpu_seconds(s.proc.pid) - before, time.monotonic() - start
        assert used < 0.5 * wall, f"the server used {used:.2f} s of CPU in {wall:.2f} s: it spins"

        r = existing.post(s.url + "/embed", json={"inputs": "during the flood"}, timeout=60)
        assert r.status_code == 200 and len(r.json()[0]) == 384

        if mode == "connection-limit":
            # Idle connections that never sent a request make room: a new client is served.
            assert served(s.url)
        else:
            # Out of descriptors: a new client is closed at once rather than left hanging (a
            # hang would end in requests' ReadTimeout, not ConnectionError).
            with pytest.raises(requests.ConnectionError):
                requests.get(s.url + "/health", timeout=60)

        for c in hogs:
            c.close()
        hogs.clear()
        # Once the server has seen those closes, new clients are served.
        for _ in range(600):
            try:
                if served(s.url, timeout=5):
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            pytest.fail("no new client was served after the flood closed")
        assert s.proc.poll() is None
    finally:
        for c in hogs:
            c.close()
        assert s.terminate() == 0
