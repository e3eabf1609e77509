"""Several models in one `ember serve` under a memory budget (docs/serve.md, "Several models").

soak: more models than the budget holds (all-MiniLM-L6-v2, paraphrase-MiniLM-L3-v2,
all-mpnet-base-v2, the tiny classifier and cross-encoder fixtures), --memory-budget sized to
hold about two of the three large ones; `--clients` threads send random requests to random
models for `--seconds`. Every 200 OK answer must equal that model's answer from its own
single-model server (computed first, for the same texts): an answer from the wrong model or a
wrong answer is counted. Every status but 200 and 503-with-Retry-After is counted as an error.
VmRSS is sampled from /proc every 100 ms; the stated bound is the process before any model is
loaded beyond the default one, less the default model's charge, plus the budget, plus the
requests' memory and allocator slack (`--overhead-mib`). An answer that differs from the
reference is compared with every model's reference for the same text: `wrong_model` when it is
another model's, `wrong_answer` otherwise (largest difference recorded; requests batched
together may differ from the reference, computed alone, in the last bits: `--atol`).

fairness: two models, one flooded by `--clients` threads with 32-input batches, the other
probed by one client with single inputs; the probe's p50 with and without the flood, in
alternating rounds of `--probe-seconds` each.

memory: for each large model, in a server whose default model is the tiny classifier, VmRSS
before the model is loaded, once it is loaded and idle, and after its largest batch
(--max-batch-requests 64 inputs of 256 tokens, twice), against what the budget charges it
(ember_model_resident_bytes: its resident growth across the load plus its compute workspace
estimated at --max-batch-tokens).

usage: python bench/serve/multi_model.py soak [--seconds 300] [--clients 8]
       python bench/serve/multi_model.py fairness [--rounds 3] [--clients 8] [--serve-args '--compute-slots 2']
       python bench/serve/multi_model.py memory
       [--ember build/src/cli/ember] [--out bench/results/<date>-serve-multi-<mode>.json]
"""
import argparse
import datetime
import json
import os
import pathlib
import random
import statistics
import subprocess
import threading
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/models"
TEXTS = [t for t in (ROOT / "bench/serve/texts.txt").read_text().splitlines() if t.strip()]
LARGE = ["all-MiniLM-L6-v2", "paraphrase-MiniLM-L3-v2", "all-mpnet-base-v2"]
SMALL = {"cls": FIXTURES / "tiny-bert-seqcls", "rerank": FIXTURES / "tiny-bert-reranker"}


def start(ember, *args, listening_line=None):
    p = subprocess.Popen([ember, "serve", "--port", "0", "--grpc-port", "0", "--cache-entries", "0", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    listening = json.loads(p.stdout.readline())
    if listening_line is not None:
        listening_line.update(listening)
    return p, f"http://127.0.0.1:{listening['port']}"


def stop(p):
    p.terminate()
    p.wait(timeout=120)


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024


def metric(url, name, model):
    for line in requests.get(url + "/metrics").text.splitlines():
        if line.startswith(f'{name}{{model="{model}"}} '):
            return float(line.split()[1])
    return 0.0


def request(url, model, text):
    """The request for `model` (embedders /embed, classifier /predict, reranker /rerank) by the
    body's model field."""
    if model == "cls":
        return requests.post(url + "/predict", json={"model": model, "inputs": text, "raw_scores": True}, timeout=120)
    if model == "rerank":
        return requests.post(url + "/rerank", json={"model": model, "query": "what is it?", "texts": [text]},
                             timeout=120)
    return requests.post(url + "/embed", json={"model": model, "inputs": text}, timeout=120)


def numbers(j):
    """Every number of an answer, in order (labels and indices as they are, scores as floats)."""
    if isinstance(j, dict):
        return [x for k in sorted(j) for x in numbers(j[k])]
    if isinstance(j, list):
        return [x for v in j for x in numbers(v)]
    return [j]


def diff(a, b):
    """Largest difference between two answers of the same shape; inf when the shapes differ."""
    x, y = numbers(a), numbers(b)
    if len(x) != len(y):
        return float("inf")
    d = 0.0
    for u, v in zip(x, y):
        if isinstance(u, str) or isinstance(v, str):
            if u != v:
                return float("inf")
        else:
            d = max(d, abs(u - v))
    return d


def references(ember, models, texts):
    out = {}
    for name, path in models.items():
        p, url = start(ember, "--model", str(path))
        try:
            # The single-model server answers whatever model the body names.
            out[name] = {t: request(url, name, t).json() for t in texts}
        finally:
            stop(p)
    return out


def soak(a):
    models = {name: name for name in LARGE} | SMALL
    texts = random.Random(7).sample(TEXTS, 40)
    refs = references(a.ember, models, texts)
    # The charges, from a server that loads them all.
    p, url = start(a.ember, "--preload", *sum((["--model", f"{n}={m}"] for n, m in models.items()), []))
    charges = {n: metric(url, "ember_model_resident_bytes", n) for n in models}
    stop(p)
    large = sorted(charges[n] for n in LARGE)
    budget = int(large[1] + large[2] + sum(charges[n] for n in SMALL) + large[0] / 2)
    args = ["--memory-budget", str(budget), "--pin", "cls", "--model", f"cls={SMALL['cls']}"]
    for n, m in models.items():
        if n != "cls":
            args += ["--model", f"{n}={m}"]
    p, url = start(a.ember, *args)
    base = rss(p.pid)  # the process with the tiny default model only
    counts = {"ok": 0, "retry_503": 0, "wrong_answer": 0, "wrong_model": 0, "errors": 0,
              "503_without_retry_after": 0}
    worst = [0.0]
    by_status = {}
    lock = threading.Lock()
    peak = [0]
    stop_at = time.time() + a.seconds
    samples = []

    def sampler():
        while time.time() < stop_at:
            r = rss(p.pid)
            samples.append(r)
            peak[0] = max(peak[0], r)
            time.sleep(0.1)

    def client(seed):
        rng = random.Random(seed)
        while time.time() < stop_at:
            name = rng.choice(list(models))
            text = rng.choice(texts)
            try:
                r = request(url, name, text)
            except requests.RequestException:
                with lock:
                    counts["errors"] += 1
                continue
            with lock:
                by_status[r.status_code] = by_status.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    got = r.json()
                    d = diff(got, refs[name][text])
                    worst[0] = max(worst[0], d)
                    if d <= a.atol:
                        counts["ok"] += 1
                    elif any(diff(got, refs[m][text]) <= a.atol for m in models if m != name):
                        counts["wrong_model"] += 1
                    else:
                        counts["wrong_answer"] += 1
                elif r.status_code == 503:
                    counts["retry_503" if "Retry-After" in r.headers else "503_without_retry_after"] += 1
                else:
                    counts["errors"] += 1

    threads = [threading.Thread(target=sampler)] + [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    loads = {n: metric(url, "ember_model_loads_total", n) for n in models}
    unloads = {n: metric(url, "ember_model_unloads_total", n) for n in models}
    stop(p)
    overhead = a.overhead_mib << 20
    return {
        "models": list(models), "charges_bytes": charges, "budget_bytes": budget, "clients": a.clients,
        "seconds": a.seconds, "answers": counts, "statuses": by_status, "loads": loads, "unloads": unloads,
        "largest_difference": worst[0], "atol": a.atol, "rss_base_bytes": base, "rss_peak_bytes": peak[0], "stated_overhead_bytes": overhead,
        "rss_bound_bytes": base + budget + overhead, "within_bound": peak[0] <= base + budget + overhead,
        "rss_samples": len(samples),
    }


def fairness(a):
    listening = {}
    load_before = os.getloadavg()
    p, url = start(a.ember, "--model", "all-MiniLM-L6-v2", "--model", "probe=paraphrase-MiniLM-L3-v2", "--preload",
                   *a.serve_args.split(), listening_line=listening)
    flood_body = {"inputs": random.Random(3).sample(TEXTS, 32), "truncate": True}
    rounds = []

    def probe(seconds):
        lat = []
        end = time.time() + seconds
        rng = random.Random(5)
        while time.time() < end:
            t0 = time.perf_counter()
            r = requests.post(url + "/embed", json={"model": "probe", "inputs": rng.choice(TEXTS), "truncate": True}, timeout=120)
            lat.append((time.perf_counter() - t0) * 1e3)
            assert r.status_code == 200, r.text
        return statistics.median(lat), len(lat)

    for _ in range(a.rounds):
        alone, n_alone = probe(a.probe_seconds)
        flooding = threading.Event()
        flooding.set()
        flooded = [0]

        def flood():
            while flooding.is_set():
                requests.post(url + "/embed", json=flood_body, timeout=120)
                flooded[0] += 1

        ts = [threading.Thread(target=flood) for _ in range(a.clients)]
        [t.start() for t in ts]
        time.sleep(1)
        busy, n_busy = probe(a.probe_seconds)
        flooding.clear()
        [t.join() for t in ts]
        rounds.append({"probe_p50_ms_alone": alone, "probe_p50_ms_flooded": busy, "ratio": busy / alone,
                       "probe_requests": [n_alone, n_busy], "flood_requests": flooded[0]})
    stop(p)
    ratios = [r["ratio"] for r in rounds]
    return {"rounds": rounds, "median_ratio": statistics.median(ratios), "clients": a.clients,
            "serve_args": a.serve_args, "compute_threads": listening.get("compute_threads"),
            "compute_slots": listening.get("compute_slots"), "cores": os.cpu_count(),
            "load_average_before": load_before, "load_average_after": os.getloadavg(),
            "within_2x": statistics.median(ratios) <= 2.0}


def memory(a):
    text = " ".join(["word"] * 600)  # cut to 256 tokens
    out = {"models": {}, "load_average": os.getloadavg()}
    for model in LARGE:
        p, url = start(a.ember, "--model", f"cls={SMALL['cls']}", "--model", f"m={model}", *a.serve_args.split())
        try:
            before = rss(p.pid)
            assert requests.post(url + "/embed", json={"model": "m", "inputs": "hello"}).status_code == 200
            time.sleep(1.5)
            idle = rss(p.pid)
            charge = metric(url, "ember_model_resident_bytes", "m")
            for _ in range(2):
                r = requests.post(url + "/embed", json={"model": "m", "inputs": [text] * 64, "truncate": True},
                                  timeout=600)
                assert r.status_code == 200, r.text
            after = rss(p.pid)
            time.sleep(2.5)  # past the allocator trimmer's interval
            later = rss(p.pid)
        finally:
            stop(p)
        out["models"][model] = {"rss_before": before, "rss_loaded_idle": idle, "rss_after_largest_batch": after,
                                "rss_2500ms_later": later, "charged": charge,
                                "load_growth": idle - before, "batch_growth": later - idle}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["soak", "fairness", "memory"])
    ap.add_argument("--ember", default=str(ROOT / "build/src/cli/ember"))
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--probe-seconds", type=int, default=10)
    ap.add_argument("--overhead-mib", type=int, default=512)
    ap.add_argument("--atol", type=float, default=1e-5)
    ap.add_argument("--serve-args", default="", help="more `ember serve` flags, e.g. '--compute-slots 2'")
    ap.add_argument("--out")
    a = ap.parse_args()
    result = {"soak": soak, "fairness": fairness, "memory": memory}[a.mode](a)
    result["command"] = "python bench/serve/multi_model.py " + a.mode
    out = a.out or str(ROOT / f"bench/results/{datetime.date.today()}-serve-multi-{a.mode}.json")
    pathlib.Path(out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "charges_bytes"}, indent=1))


if __name__ == "__main__":
    main()
