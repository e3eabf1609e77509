"""Per-request latency of one embedding over each protocol ember serve speaks, measured
interleaved (one request per protocol per round, so load drifts hit all alike), medians:
TEI POST /embed (JSON), KServe v2 HTTP JSON, KServe v2 HTTP binary tensor data (input and
output), KServe v2 gRPC ModelInfer (tritonclient's generated stub). With --cache (the
default) every request after the first is a result-cache hit, so the numbers are the
protocol's cost (parse, format, transport, Python client) without compute; --no-cache adds
the model. Usage (from the repo root, with the test .venv):
  .venv/bin/python bench/serve/kserve_protocols.py build/src/cli/ember --rounds 300 \
      --out bench/results/kserve-protocols.json
"""
import argparse
import json
import socket
import struct
import subprocess
import time

import grpc
import numpy as np
import requests
from tritonclient.grpc import service_pb2, service_pb2_grpc

MODEL = "all-MiniLM-L6-v2"
TEXT = "The quick brown fox jumps over the lazy dog, again and again, for sixteen tokens."


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ember")
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    args = [a.ember, "serve", "--model", MODEL, "--port", "0", "--grpc-port", str(free_port()), "--threads", "1"]
    if a.no_cache:
        args += ["--cache-entries", "0"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    info = json.loads(proc.stdout.readline())
    url = f"http://127.0.0.1:{info['port']}"
    session = requests.Session()
    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(f"127.0.0.1:{info['grpc_port']}"))

    raw = struct.pack("<I", len(TEXT.encode())) + TEXT.encode()
    header = json.dumps({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "parameters": {"binary_data_output": True}}).encode()
    kjson = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [TEXT]}]}
    greq = service_pb2.ModelInferRequest(model_name=MODEL)
    greq.inputs.add(name="text", datatype="BYTES", shape=[1])
    greq.raw_input_contents.append(raw)

    def tei():
        r = session.post(url + "/embed", json={"inputs": TEXT})
        return np.asarray(r.json()[0], np.float32)

    def kserve_json():
        r = session.post(f"{url}/v2/models/{MODEL}/infer", json=kjson)
        return np.asarray(r.json()["outputs"][0]["data"], np.float32)

    def kserve_binary():
        r = session.post(f"{url}/v2/models/{MODEL}/infer", data=header + raw,
                         headers={"Inference-Header-Content-Length": str(len(header))})
        n = int(r.headers["Inference-Header-Content-Length"])
        return np.frombuffer(r.content[n:], "<f4")

    def kserve_grpc():
        return np.frombuffer(stub.ModelInfer(greq).raw_output_contents[0], "<f4")

    protocols = {"tei_embed_json": tei, "kserve_http_json": kserve_json,
                 "kserve_http_binary": kserve_binary, "kserve_grpc": kserve_grpc}
    first = {k: f() for k, f in protocols.items()}  # warm-up, and all four agree
    for k, v in first.items():
        np.testing.assert_allclose(v, first["tei_embed_json"], atol=1e-6, err_msg=k)
    times = {k: [] for k in protocols}
    for _ in range(a.rounds):
        for k, f in protocols.items():
            t0 = time.perf_counter()
            f()
            times[k].append((time.perf_counter() - t0) * 1e3)
    proc.terminate()
    proc.wait()
    base = np.median(times["tei_embed_json"])
    result = {"command": " ".join(["bench/serve/kserve_protocols.py", a.ember, "--rounds", str(a.rounds)]
                                  + (["--no-cache"] if a.no_cache else [])),
              "cache": not a.no_cache, "rounds": a.rounds, "text": TEXT,
              "ms": {k: {"p50": float(np.median(v)), "p90": float(np.percentile(v, 90)),
                         "min": float(np.min(v)), "p50_vs_tei": float(np.median(v) / base)}
                     for k, v in times.items()}}
    print(json.dumps(result, indent=1))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
