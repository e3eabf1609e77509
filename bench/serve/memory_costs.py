"""The constants of the server's memory model (src/serve/request_cost.h), measured: the peak
resident memory (VmHWM) one request adds to a fresh, warmed-up `ember serve`, per byte of its
body, for the worst shapes found: JSON bodies (2 MB of "[{},{},..]", "[[[..]]]", ...) and texts
tokenized with truncation (1 MiB of "!!!!", CJK, accents, ...). One server per case, so each
peak is that request's alone.

--tokenizer FILE (repeatable) measures the texts again with that tokenizer.json in a copy of
--tokenizer-host (a small model directory; its vocabulary need not match: the answer may be a
422, the peak is the tokenization's).

usage: python bench/serve/memory_costs.py [--ember build/src/cli/ember] [--model M]
           [--tokenizer FILE --tokenizer-host DIR]... [--out bench/results/<date>-...json]
"""
import argparse
import datetime
import json
import pathlib
import random
import shutil
import subprocess
import tempfile

import requests


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024


def peak_of(ember, model, path, body):
    p = subprocess.Popen([ember, "serve", "--model", model, "--port", "0", "--grpc-port", "0",
                          "--cache-entries", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = f"http://127.0.0.1:{json.loads(p.stdout.readline())['port']}"
        requests.post(url + "/embed", json={"inputs": "warm up " * 100, "truncate": True})
        before = status(p.pid, "VmHWM")
        r = requests.post(url + path, data=body, headers={"Content-Type": "application/json"}, timeout=600)
        return r.status_code, status(p.pid, "VmHWM") - before
    finally:
        p.terminate()
        p.wait()


def json_bodies(n=2_000_000):
    def array(unit):
        k = (n - 20) // (len(unit) + 1)
        return ('{"inputs": [' + ",".join([unit] * k) + "]}").encode()

    return {
        "[[],[],..]": array("[]"), "[{},{},..]": array("{}"), '["","",..]': array('""'),
        "[1,1,..]": array("1"), "[null,..]": array("null"),
        "[[[..]]] nested": b'{"inputs": ' + b"[" * ((n - 20) // 2) + b"]" * ((n - 20) // 2) + b"}",
        '{"a":{"a":..}} nested': b'{"a":' * ((n - 2) // 6) + b"1" + b"}" * ((n - 2) // 6),
        "one string": json.dumps({"inputs": "a" * (n - 20)}).encode(),
    }


def texts(n=1 << 20):
    random.seed(0)
    return {
        "!!!! (one-character words)": "!" * n,
        "mixed punctuation": "".join(random.choice("!?.,;:-()[]{}") for _ in range(n)),
        "a a a": "a " * (n // 2),
        "CJK": "".join(chr(random.randint(0x4E00, 0x9FFF)) for _ in range(n // 3)),
        "CJK with spaces": "".join(chr(random.randint(0x4E00, 0x9FFF)) + " " for _ in range(n // 4)),
        "English words": " ".join(random.choice(["the", "quick", "brown", "fox", "internationalization"])
                                  for _ in range(n // 6)),
        "accents": "\u00e9" * (n // 2),
        "emoji": "".join(chr(random.randint(0x1F600, 0x1F64F)) for _ in range(n // 4)),
        "combining marks": "a" + "\u0301" * (n // 2 - 1),
        "spaces": " " * n,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ember", default="build/src/cli/ember")
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--tokenizer", action="append", default=[])
    ap.add_argument("--tokenizer-host", default="tests/fixtures/models/tiny-roberta")
    ap.add_argument("--out")
    a = ap.parse_args()
    rows = []
    for tok in a.tokenizer:
        with tempfile.TemporaryDirectory() as d:
            model = pathlib.Path(d) / "model"
            shutil.copytree(a.tokenizer_host, model)
            shutil.copyfile(tok, model / "tokenizer.json")
            for name, text in texts().items():
                body = json.dumps({"inputs": text, "truncate": True}, ensure_ascii=False).encode()
                size = len(text.encode())
                code, peak = peak_of(a.ember, str(model), "/embed", body)
                rows.append({"kind": "text tokenized", "tokenizer": pathlib.Path(tok).name, "case": name,
                             "bytes": size, "status": code, "peak_bytes": peak, "per_byte": round(peak / size, 1)})
                print(rows[-1], flush=True)
    for name, body in json_bodies().items():
        code, peak = peak_of(a.ember, a.model, "/embed", body)
        rows.append({"kind": "json body", "case": name, "bytes": len(body), "status": code,
                     "peak_bytes": peak, "per_byte": round(peak / len(body), 1)})
        print(rows[-1], flush=True)
    for name, text in texts().items():
        body = json.dumps({"inputs": text, "truncate": True}, ensure_ascii=False).encode()
        size = len(text.encode())
        code, peak = peak_of(a.ember, a.model, "/embed", body)
        rows.append({"kind": "text tokenized", "tokenizer": a.model, "case": name, "bytes": size, "status": code,
                     "peak_bytes": peak, "per_byte": round(peak / size, 1)})
        print(rows[-1], flush=True)
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "model": a.model, "rows": rows}
    if a.out:
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
