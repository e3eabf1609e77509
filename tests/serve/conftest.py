"""Fixtures for the end-to-end server tests: a real `ember serve` process on loopback.

EMBER_BIN names the binary (ctest sets it); the model is the cache name all-MiniLM-L6-v2
(scripts/fetch_models.sh puts it there). The port is read from the server's JSON
"listening" line, so tests never guess a free port.
"""
import json
import os
import pathlib
import signal
import subprocess
import threading

import numpy as np
import pytest
import requests

SOURCE_DIR = pathlib.Path(os.environ.get("EMBER_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
REFERENCE_DIR = SOURCE_DIR / "tests/fixtures/reference/all-MiniLM-L6-v2"
MODEL = "all-MiniLM-L6-v2"


def ember_bin():
    path = os.environ.get("EMBER_BIN")
    if not path:
        pytest.fail("EMBER_BIN is not set: run these tests through ctest")
    return path


class Server:
    """One `ember serve` process; stops it (SIGTERM) on close."""

    def __init__(self, *extra_args):
        args = [ember_bin(), "serve", "--model", MODEL, "--port", "0", *extra_args]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()
            self.proc.wait()
            raise RuntimeError(f"ember serve exited ({self.proc.returncode}) before listening: {err}")
        self.listening = json.loads(line)
        assert self.listening["event"] == "listening"
        self.url = f"http://{self.listening['address']}:{self.listening['port']}"
        # Keep draining stderr so the server never blocks on a full pipe.
        self._stderr = []
        threading.Thread(target=lambda: self._stderr.extend(self.proc.stderr), daemon=True).start()

    def terminate(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)

    def metrics(self, **kw):
        r = requests.get(self.url + "/metrics", **kw)
        r.raise_for_status()
        return r.text


def metric_value(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


def load_reference():
    """inputs.json texts and the 'pooled' F32 tensor of reference.safetensors (parsed by hand:
    8-byte little-endian header length, JSON header, raw little-endian data)."""
    texts = json.loads((REFERENCE_DIR / "inputs.json").read_text())["texts"]
    raw = (REFERENCE_DIR / "reference.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    meta = header["pooled"]
    assert meta["dtype"] == "F32"
    begin, end = meta["data_offsets"]
    pooled = np.frombuffer(raw[8 + n + begin : 8 + n + end], dtype="<f4").reshape(meta["shape"])
    assert pooled.shape[0] == len(texts)
    return texts, pooled


def cosine(a, b):
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="session")
def server():
    s = Server("--http-threads", "2")
    yield s
    assert s.terminate() == 0


@pytest.fixture(scope="session")
def reference():
    return load_reference()
