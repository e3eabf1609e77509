"""Helpers for the deployment tests: the binary, the source tree, a real `ember serve`.

EMBER_BIN names the binary and EMBER_SOURCE_DIR the checkout (ctest sets both). Tools the
tests need (kubectl, nginx, ip, the validator) are required: a missing one fails the test
with what to install, never skips it.
"""
import ctypes
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import threading

import pytest

SOURCE_DIR = pathlib.Path(os.environ.get("EMBER_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
MODEL = "all-MiniLM-L6-v2"


def ember_bin():
    path = os.environ.get("EMBER_BIN")
    if not path:
        pytest.fail("EMBER_BIN is not set: run these tests through ctest")
    return path


def require_tool(name, how):
    path = shutil.which(name)
    if not path:
        pytest.fail(f"`{name}` is not installed: {how}")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def die_with_parent():
    """preexec_fn: the child gets SIGKILL when the thread that started it ends, so that a test
    killed by its timeout leaves no server or proxy behind. Start such children from the main
    thread only."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Server:
    """One `ember serve` process, started with `prefix` (e.g. `ip netns exec NS`) before the
    binary; the address is read from its "listening" line (at once, or by wait_listening() when
    wait=False, to start several in parallel). Stops it (SIGTERM) on terminate()."""

    def __init__(self, *args, prefix=(), model=MODEL, wait=True):
        argv = [*prefix, ember_bin(), "serve", "--model", str(model), *args]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     preexec_fn=die_with_parent)
        if wait:
            self.wait_listening()

    def wait_listening(self):
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()
            self.proc.wait()
            raise RuntimeError(f"ember serve exited ({self.proc.returncode}) before listening: {err}")
        self.listening = json.loads(line)
        assert self.listening["event"] == "listening"
        self.url = f"http://{self.listening['address']}:{self.listening['port']}"
        self.stdout_lines = []
        self.stderr_lines = []
        # Keep draining both pipes so that the server never blocks on a full one.
        self._readers = [
            threading.Thread(target=lambda: self.stdout_lines.extend(self.proc.stdout), daemon=True),
            threading.Thread(target=lambda: self.stderr_lines.extend(self.proc.stderr), daemon=True),
        ]
        for t in self._readers:
            t.start()

    def stdout(self):
        """All the server printed, once it has exited."""
        assert self.proc.poll() is not None
        for t in self._readers:
            t.join(timeout=10)
        return "".join(self.stdout_lines)

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def terminate(self, timeout=60):
        self.signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self):
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
