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

    def __init__(self, *extra_args, model=MODEL, **popen_kw):
        """popen_kw goes to subprocess.Popen (env, preexec_fn)."""
        args = [ember_bin(), "serve", "--model", str(model), "--port", "0", *extra_args]
        if "--grpc-port" not in extra_args:
            args += ["--grpc-port", "0"]  # gRPC off unless asked: 8001 is shared by all servers
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen_kw)
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
def uncached_server():
    """Like `server`, without the result cache: for tests that repeat inputs to load the batcher."""
    s = Server("--http-threads", "2", "--cache-entries", "0")
    yield s
    assert s.terminate() == 0


@pytest.fixture(scope="session")
def reference():
    return load_reference()


def read_safetensors(path):
    """{name: float32/int array} of a safetensors file, parsed by hand as load_reference does."""
    raw = pathlib.Path(path).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    dtypes = {"F32": "<f4", "I64": "<i8", "I32": "<i4"}
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        begin, end = meta["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + begin : 8 + n + end], dtype=dtypes[meta["dtype"]]).reshape(
            meta["shape"]
        )
    return out


def write_safetensors(path, tensors):
    """Writes F32 tensors in the safetensors layout (header, then data in order)."""
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    pathlib.Path(path).write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))


SEQCLS_DIR = SOURCE_DIR / "tests/fixtures/models/tiny-bert-seqcls"
SEQCLS_REFERENCE_DIR = SOURCE_DIR / "tests/fixtures/reference/tiny-bert-seqcls"


@pytest.fixture(scope="session")
def seqcls_reference():
    inputs = json.loads((SEQCLS_REFERENCE_DIR / "inputs.json").read_text())
    return inputs, read_safetensors(SEQCLS_REFERENCE_DIR / "reference.safetensors")


@pytest.fixture(scope="session")
def seqcls_server():
    """tiny-bert-seqcls: a BertForSequenceClassification with three labels."""
    s = Server("--http-threads", "2", model=SEQCLS_DIR)
    yield s
    assert s.terminate() == 0


@pytest.fixture(scope="session")
def reranker_server(tmp_path_factory):
    """A one-label cross-encoder made from tiny-bert-seqcls by keeping only the classifier's
    first row: its logit for any pair is the reference's label-0 logit for that pair."""
    d = tmp_path_factory.mktemp("tiny-bert-reranker")
    for f in SEQCLS_DIR.iterdir():
        if f.is_file() and f.name not in ("config.json", "model.safetensors"):
            (d / f.name).write_bytes(f.read_bytes())
        elif f.is_dir():
            (d / f.name).mkdir()
            for g in f.iterdir():
                (d / f.name / g.name).write_bytes(g.read_bytes())
    config = json.loads((SEQCLS_DIR / "config.json").read_text())
    config["id2label"] = {"0": "LABEL_0"}
    config["label2id"] = {"LABEL_0": 0}
    (d / "config.json").write_text(json.dumps(config))
    tensors = read_safetensors(SEQCLS_DIR / "model.safetensors")
    tensors["classifier.weight"] = tensors["classifier.weight"][:1]
    tensors["classifier.bias"] = tensors["classifier.bias"][:1]
    write_safetensors(d / "model.safetensors", tensors)
    s = Server("--http-threads", "2", model=d)
    yield s
    assert s.terminate() == 0


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def kserve_server():
    """A server with KServe v2 gRPC on (a port found free just before; retried if taken) and no
    result cache, so that every KServe request is computed rather than answered from /embed's."""
    for attempt in range(5):
        try:
            s = Server("--http-threads", "2", "--cache-entries", "0", "--grpc-port", str(free_port()))
            break
        except RuntimeError:
            if attempt == 4:
                raise
    assert s.listening["grpc_port"] > 0
    s.grpc_url = f"{s.listening['address']}:{s.listening['grpc_port']}"
    yield s
    assert s.terminate() == 0
