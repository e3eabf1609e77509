"""Resident memory of a model in `ember serve`: VmRSS and VmHWM (with VmRSS split into file
pages, RssFile, and anonymous memory, RssAnon) once the server listens (the model loaded and
prepared), and again after two /embed requests of TOKENS tokens each; plus the seconds from
start to listening. Several binaries (or flag sets) side by side: per model, every variant runs
in a fresh server, in alternating order over --rounds rounds; the medians are reported.

usage: python bench/serve/model_memory.py --variant LABEL=EMBER[:FLAGS]... [--model NAME:TOKENS]...
           [--threads 1] [--rounds 2] [--note TEXT]... [--out bench/results/<date>-memory-fused.json]

e.g. --variant before=/tmp/ember-base --variant after=build/src/cli/ember
     --variant "unpacked=build/src/cli/ember:--no-pack-weights"
Models: names in the model cache (~/.cache/ember/models) or directories. The texts are "the"
repeated (one token each with the bert-base-uncased vocabulary) plus the special tokens.

Each model is measured on a private copy of its directory (in --copy-dir, removed after), since
MADV_PAGEOUT leaves a file page alone while another process maps it too: a test or benchmark
of someone else reading the same checkpoint would otherwise keep pages resident that the
server handed back. --no-copy measures the directory in place.
"""
import argparse
import datetime
import json
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import requests

KEYS = ("VmRSS", "VmHWM", "RssAnon", "RssFile")


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in KEYS:
                out[k] = round(int(v.split()[0]) / 1024)
    return out


def run(ember, flags, model, tokens, threads):
    t0 = time.monotonic()
    p = subprocess.Popen([ember, "serve", "--model", model, "--port", "0", "--grpc-port", "0",
                          "--threads", str(threads), "--cache-entries", "0", *flags],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready = json.loads(p.stdout.readline())
        out = {"load_s": round(time.monotonic() - t0, 2), "dtype": ready.get("dtype")}
        out["after_load_mib"] = status(p.pid)
        url = f"http://127.0.0.1:{ready['port']}"
        for _ in range(2):
            r = requests.post(url + "/embed", json={"inputs": "the " * tokens, "truncate": True},
                              timeout=1800)
            r.raise_for_status()
        out["after_two_requests_mib"] = status(p.pid)
        return out
    finally:
        p.terminate()
        p.wait()


def median_of(runs, phase, key):
    return statistics.median(r[phase][key] for r in runs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", action="append", required=True, help="LABEL=EMBER[:FLAGS]")
    ap.add_argument("--model", action="append",
                    help="NAME:TOKENS (default: all-MiniLM-L6-v2:128, bert-base-uncased-random:128, "
                         "qwen3-embedding-0.6b-random:1024)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--copy-dir", default=None, help="where the private copies go (default: $TMPDIR)")
    ap.add_argument("--no-copy", action="store_true")
    ap.add_argument("--note", action="append", default=[], help="a line for the record (which binary is which)")
    ap.add_argument("--out")
    a = ap.parse_args()
    variants = []
    for v in a.variant:
        label, _, rest = v.partition("=")
        ember, _, flags = rest.partition(":")
        variants.append((label, ember, shlex.split(flags)))
    models = a.model or ["all-MiniLM-L6-v2:128", "bert-base-uncased-random:128",
                         "qwen3-embedding-0.6b-random:1024"]
    rows = []
    for spec in models:
        model, _, tokens = spec.rpartition(":")
        runs = {label: [] for label, _, _ in variants}
        copy = None
        if not a.no_copy:
            src = Path(model) if Path(model).is_dir() else Path.home() / ".cache/ember/models" / model
            copy = Path(tempfile.mkdtemp(prefix="ember-model-memory-", dir=a.copy_dir))
            shutil.copytree(src, copy / src.name)
        try:
            for r in range(a.rounds):
                order = variants if r % 2 == 0 else variants[::-1]
                for label, ember, flags in order:
                    res = run(ember, flags, str(copy / Path(model).name) if copy else model,
                              int(tokens), a.threads)
                    runs[label].append(res)
                    print(json.dumps({"model": model, "variant": label, "round": r, **res}), flush=True)
        finally:
            if copy:
                shutil.rmtree(copy)
        for label, ember, flags in variants:
            rs = runs[label]
            rows.append({
                "model": model, "tokens": int(tokens), "variant": label, "ember": ember,
                "flags": " ".join(flags), "dtype": rs[0]["dtype"],
                "load_s_median": round(statistics.median(r["load_s"] for r in rs), 2),
                "after_load_mib": {k: median_of(rs, "after_load_mib", k) for k in KEYS},
                "after_two_requests_mib": {k: median_of(rs, "after_two_requests_mib", k) for k in KEYS},
                "runs": rs,
            })
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "threads": a.threads, "rounds": a.rounds,
           "command": "python bench/serve/model_memory.py " + " ".join(
               shlex.quote(x) for x in
               sum([["--variant", v] for v in a.variant], []) + sum([["--model", m] for m in models], []) +
               ["--threads", str(a.threads), "--rounds", str(a.rounds)] +
               (["--no-copy"] if a.no_copy else []) + sum([["--note", n] for n in a.note], [])),
           "private_copies": not a.no_copy, "notes": a.note,
           "rows": rows}
    if a.out:
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
