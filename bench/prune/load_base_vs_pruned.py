#!/usr/bin/env python3
"""Base against pruned under load: both models served, `ember loadtest` closed-loop user sweeps
on each (interleaved: base, pruned, base, pruned ... one rep after the other), one CSV with
both (median over reps per step) and one SVG with both curves: throughput, p50 and p95 latency
against users, and for each model the first step where it answers 429 or passes the p99 bound.

    python3 bench/prune/load_base_vs_pruned.py --base all-MiniLM-L6-v2 --pruned /tmp/minilm-pruned \
        [--users 1,2,4,8,16,32,64] [--duration 10] [--reps 2] [--p99-bound-ms 500] \
        [--one-server] [--out bench/results/prune_load/<UTC time>]

--one-server serves both from one `ember serve --model base=... --model pruned=...` and routes
by the OpenAI `model` field; without it, two servers (one model each) run side by side. Both
are loaded the same way: /v1/embeddings, one input per request, result cache off.
Standard library only."""
import argparse
import csv
import datetime
import json
import math
import pathlib
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS = ("base", "pruned")
COLORS = {"base": "#1f77b4", "pruned": "#d62728"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(ember, models, extra):
    """`ember serve` on `models` ({name: path}); returns (process, base URL)."""
    args = [ember, "serve", "--port", "0", "--grpc-port", "0", "--cache-entries", "0", *extra]
    for name, path in models.items():
        args += ["--model", f"{name}={path}"] if len(models) > 1 else ["--model", path]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        sys.exit(f"ember serve did not start: {proc.stderr.read()}")
    listening = json.loads(line)
    return proc, f"http://{listening['address']}:{listening['port']}"


def wait_healthy(url):
    for _ in range(600):
        try:
            if urllib.request.urlopen(url + "/health", timeout=5).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"{url} never became healthy")


def read_steps(path):
    return {int(float(r["level"])): r for r in csv.DictReader(open(path))}


def median_rows(runs):
    """{users: [row per rep]} -> {users: {column: median}}."""
    out = {}
    for users, rows in sorted(runs.items()):
        keys = [k for k in rows[0] if k not in ("mode", "level")]
        out[users] = {k: statistics.median(float(r[k]) for r in rows) for k in keys}
        out[users]["errors_429"] = sum(float(r["errors_429"]) for r in rows)
    return out


def knee(steps, p99_bound):
    """The first user count where the model answers 429 or passes the p99 bound."""
    for users, s in sorted(steps.items()):
        if s["errors_429"] > 0 or s["p99_ms"] > p99_bound:
            return users
    return None


def svg_chart(results, p99_bound, title):
    """Three panels against users (log2 axis): req/s, p50 ms, p95 ms; one line per model."""
    panels = [("throughput_rps", "requests/s"), ("p50_ms", "p50 latency, ms"),
              ("p95_ms", "p95 latency, ms")]
    w, h, pad = 300, 220, 50
    width = pad + len(panels) * (w + pad)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h + 2 * pad + 30}" '
             'font-family="sans-serif" font-size="11">',
             f'<text x="{pad}" y="20" font-size="14">{title}</text>']
    users = sorted({u for steps in results.values() for u in steps})
    lx = [math.log2(u) for u in users]
    x0, x1 = min(lx), max(lx) if max(lx) > min(lx) else min(lx) + 1
    for i, (key, label) in enumerate(panels):
        ox, oy = pad + i * (w + pad), pad
        top = max(s[key] for steps in results.values() for s in steps.values()) * 1.1 or 1
        px = lambda u: ox + (math.log2(u) - x0) / (x1 - x0) * w
        py = lambda v: oy + h - v / top * h
        parts.append(f'<rect x="{ox}" y="{oy}" width="{w}" height="{h}" fill="none" stroke="#888"/>')
        parts.append(f'<text x="{ox}" y="{oy - 6}">{label}</text>')
        for u in users:
            parts.append(f'<text x="{px(u):.1f}" y="{oy + h + 14}" text-anchor="middle">{u}</text>')
        parts.append(f'<text x="{ox + w / 2}" y="{oy + h + 28}" text-anchor="middle">users</text>')
        for t in range(5):
            v = top * t / 4
            parts.append(f'<text x="{ox - 4}" y="{py(v) + 4:.1f}" text-anchor="end">{v:.0f}</text>')
        for name, steps in results.items():
            pts = " ".join(f"{px(u):.1f},{py(s[key]):.1f}" for u, s in sorted(steps.items()))
            parts.append(f'<polyline points="{pts}" fill="none" stroke="{COLORS[name]}" stroke-width="2"/>')
            k = knee(steps, p99_bound)
            if k is not None:
                parts.append(f'<circle cx="{px(k):.1f}" cy="{py(steps[k][key]):.1f}" r="5" fill="none" '
                             f'stroke="{COLORS[name]}" stroke-width="2"/>')
    ly = h + 2 * pad + 20
    for j, name in enumerate(results):
        parts.append(f'<rect x="{pad + j * 260}" y="{ly - 9}" width="12" height="4" fill="{COLORS[name]}"/>')
        k = knee(results[name], p99_bound)
        note = f"429 or p99 > {p99_bound:g} ms from {k} users (circled)" if k else "no 429, p99 within bound"
        parts.append(f'<text x="{pad + j * 260 + 16}" y="{ly - 4}">{name}: {note}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="the unpruned model (directory or cache name)")
    ap.add_argument("--pruned", required=True, help="ember prune's output directory")
    ap.add_argument("--users", default="1,2,4,8,16,32,64")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--p99-bound-ms", type=float, default=500)
    ap.add_argument("--one-server", action="store_true")
    ap.add_argument("--ember", default=str(ROOT / "build/src/cli/ember"))
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = pathlib.Path(a.out or ROOT / "bench/results/prune_load" / stamp)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"base": a.base, "pruned": a.pruned}
    procs, urls = [], {}
    try:
        if a.one_server:
            proc, url = start_server(a.ember, paths, ["--preload"])
            procs.append(proc)
            urls = {name: url for name in MODELS}
        else:
            for name in MODELS:
                proc, url = start_server(a.ember, {name: paths[name]},
                                         ["--served-model-name", name])
                procs.append(proc)
                urls[name] = url
        for url in set(urls.values()):
            wait_healthy(url)
        runs = {name: {} for name in MODELS}
        for rep in range(1, a.reps + 1):
            for name in MODELS:
                print(f"load_base_vs_pruned: rep {rep} {name}", flush=True)
                path = out / f"{name}-rep{rep}.csv"
                body = json.dumps({"input": "__INPUTS__", "model": name}).replace(
                    '"__INPUTS__"', "{{inputs}}")
                subprocess.run([a.ember, "loadtest", urls[name], "--route", "/v1/embeddings",
                                "--body", body, "--users", a.users, "--duration", str(a.duration),
                                "--warmup", "2", "--seed", str(rep), "--csv", str(path)],
                               check=True, stdout=subprocess.DEVNULL)
                time.sleep(2)  # the other model's threads go idle before the next load
                for users, row in read_steps(path).items():
                    runs[name].setdefault(users, []).append(row)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=60)
    results = {name: median_rows(runs[name]) for name in MODELS}
    with open(out / "base_vs_pruned.csv", "w", newline="") as f:
        cols = ["throughput_rps", "p50_ms", "p95_ms", "p99_ms", "errors_429", "errors_5xx"]
        w = csv.writer(f)
        w.writerow(["model", "users", *cols])
        for name in MODELS:
            for users, s in sorted(results[name].items()):
                w.writerow([name, users, *(f"{s[c]:.3f}" for c in cols)])
    title = f"base ({a.base}) against pruned ({pathlib.Path(a.pruned).name}), {a.reps} reps, medians"
    (out / "base_vs_pruned.svg").write_text(svg_chart(results, a.p99_bound_ms, title))
    summary = {name: {"knee_users": knee(results[name], a.p99_bound_ms),
                      "max_rps": max(s["throughput_rps"] for s in results[name].values())}
               for name in MODELS}
    (out / "summary.json").write_text(json.dumps({"p99_bound_ms": a.p99_bound_ms, **summary}, indent=1))
    print(json.dumps(summary), f"\nload_base_vs_pruned: results in {out}")


if __name__ == "__main__":
    main()
