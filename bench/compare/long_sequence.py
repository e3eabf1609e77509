"""The long-sequence grid (issue #19): Ember against ONNX Runtime and OpenVINO on a model that
reads 8,192 tokens (bench/compare/make_long_model.py: ModernBERT-base's or
Qwen3-Embedding-0.6B's config, random weights), batch 1 at 1024, 2048 and 8192 tokens, fp32,
the same thread count everywhere.

Per length, every engine runs in a process of its own, started fresh for that length, so that
its peak resident memory (VmHWM of /proc/PID/status) is that engine's at that length alone:
Ember is its own `ember bench --serve-stdin` process, each Python peer a worker process of this
script (`--worker`) that imports only its own runtime. Per length: load every engine, check
each one's last hidden state against Ember's (mean-pooled cosine >= 0.999, and the lowest
per-token cosine reported; an engine that disagrees is not timed), warm-up runs, then
repetitions in which every engine runs once in a rotating order, each run after a pause
(--pause-s) in which the machine's other threads settle. Reported: the median ms per engine,
the ratio best peer / Ember, and the resident memory: after loading, and the peak over the
length's runs, both per process.

    bench/compare/run.sh is for the short grid; this one runs with the same venv:
    .venv-compare/bin/python bench/compare/long_sequence.py [--model NAME]
        [--lengths 1024,2048,8192] [--with EARLIER.json] ...

docs/benchmarks.md's long-sequence section has one subsection per model: a run writes its own
model's, plus those of the earlier runs named by --with (another model's JSON), so that one
model's rerun keeps the other's table.
"""

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

ENGINES = ["ember_fp32", "ort_fp32", "ov_fp32"]


def log(*a):
    print("[long]", *a, file=sys.stderr, flush=True)


def proc_mem(pid):
    """VmRSS and VmHWM of a process, in MiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024.0
    return out


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time of a process, all its threads (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def reset_peak(pid):
    """Resets the process's VmHWM to its current RSS (Linux: clear_refs 5)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


# ---- the worker: one Python peer in its own process, driven over stdin/stdout ----

def worker(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--engine", required=True)
    p.add_argument("--onnx", required=True)
    p.add_argument("--threads", type=int, required=True)
    a = p.parse_args(argv)
    import engines as eng
    if a.engine == "ort_fp32":
        e = eng.OrtEngine(a.onnx, a.threads, "fp32")
    elif a.engine == "ov_fp32":
        e = eng.OvEngine(a.onnx, a.threads, "fp32")
    else:
        raise SystemExit(f"unknown engine {a.engine}")
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        try:
            if cmd[0] == "prepare":
                e.prepare(np.load(cmd[1]))
                r = {"ok": True}
            elif cmd[0] == "time":
                r = {"ms": [e.run() for _ in range(int(cmd[1]))]}
            elif cmd[0] == "hidden":
                np.save(cmd[1], e.hidden()[0])
                r = {"ok": True}
            else:
                r = {"error": f"unknown command {cmd[0]}"}
        except Exception as ex:  # noqa: BLE001 (reported to the harness)
            r = {"error": f"{ex.__class__.__name__}: {str(ex)[:300]}"}
        print(json.dumps(r), flush=True)
    return 0


class PeerProcess:
    def __init__(self, engine, onnx, threads):
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", "--engine", engine,
             "--onnx", str(onnx), "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        r = self._reply()
        if not r.get("ready"):
            raise RuntimeError(f"{engine} did not start: {r}")
        self.pid = self.proc.pid
        self.name = engine

    def _reply(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited (code {self.proc.wait()})")
        return json.loads(line)

    def _ask(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        r = self._reply()
        if "error" in r:
            raise RuntimeError(r["error"])
        return r

    def prepare(self, ids, work):
        path = work / f"ids_{ids.shape[0]}x{ids.shape[1]}.npy"
        np.save(path, ids)
        self._ask(f"prepare {path}")

    def run(self):
        return self._ask("time 1")["ms"][0]

    def hidden(self, work):
        path = work / f"hidden_{self.name}.npy"
        self._ask(f"hidden {path}")
        h = np.load(path)
        path.unlink()
        return h

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)

    def proc_alive(self):
        return self.proc.poll() is None

    def kill(self):
        self.proc.kill()
        self.proc.wait()


class EmberProcess:
    def __init__(self, ember, model, threads, work):
        import engines as eng
        self.e = eng.EmberEngine(ember, model, threads, "fp32", work)
        self.pid = self.e.proc.pid
        self.name = "ember_fp32"

    def prepare(self, ids, work):
        self.e.prepare(ids)

    def run(self):
        return self.e.run()

    def hidden(self, work):
        return self.e.hidden()[0]

    def close(self):
        self.e.close()

    def proc_alive(self):
        return self.e.proc.poll() is None

    def kill(self):
        self.e.proc.kill()
        self.e.proc.wait()


def agreement(ref, out):
    """Cosine of the mean-pooled hidden states, and the lowest per-token cosine."""
    a, b = ref.astype(np.float64), out.astype(np.float64)
    pa, pb = a.mean(0), b.mean(0)
    pooled = float(pa @ pb / (np.linalg.norm(pa) * np.linalg.norm(pb)))
    tok = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)
    # How far the tokens are from each other (a check is only as strong as this is below 1):
    # the mean cosine of each reference token with the reference's own mean.
    spread = (a @ pa) / (np.linalg.norm(a, axis=1) * np.linalg.norm(pa) + 1e-30)
    return {"pooled_cos": pooled, "token_cos_min": float(tok.min()),
            "max_abs_diff": float(np.abs(a - b).max()),
            "ref_token_to_mean_cos": float(spread.mean())}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ember", default=os.environ.get("EMBER", str(REPO / "build/src/cli/ember")))
    p.add_argument("--model", default="modernbert-base-random",
                   help="model cache name or directory (make_long_model.py)")
    p.add_argument("--lengths", default="1024,2048,8192")
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--skip", action="append", default=[], metavar="ENGINE@LENGTH",
                   help="leave one engine out at one length (e.g. ort_fp32@8192), with the "
                        "reason given by --note (repeatable)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=0,
                   help="untimed runs per engine after the check run (itself a warm-up)")
    p.add_argument("--reps", default="3", help="repetitions, one number or one per length")
    p.add_argument("--pause-s", type=float, default=1.0,
                   help="pause before each engine's timed run")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--work", default=str(Path.home() / ".cache/ember/compare"))
    p.add_argument("--out", default=str(
        REPO / f"bench/results/{datetime.date.today().isoformat()}-long-sequence"))
    p.add_argument("--note", action="append", default=[])
    p.add_argument("--report-only", metavar="JSON[,JSON]",
                   help="only write the section from earlier runs' JSON (several runs of one "
                        "model: one table)")
    p.add_argument("--with", dest="with_runs", default="", metavar="JSON[,JSON]",
                   help="earlier runs (e.g. of the other model) whose tables the section keeps")
    p.add_argument("--markdown", default=str(REPO / "docs/benchmarks.md"),
                   help="the report whose long-sequence section this run rewrites ('' for none)")
    return p.parse_args(argv)


def main(argv):
    if argv[:1] == ["--worker"]:
        return worker(argv[1:])
    args = parse_args(argv)
    if args.report_only:
        runs = [json.loads(Path(f).read_text()) for f in args.report_only.split(",")]
        write_section(args.markdown, runs)
        return 0
    import compare
    import prepare
    mdir = compare.model_dir(args.model)
    work = Path(args.work) / mdir.name
    work.mkdir(parents=True, exist_ok=True)
    cfg = prepare.model_config(mdir)
    lengths = [int(x) for x in args.lengths.split(",")]
    reps = [int(x) for x in args.reps.split(",")]
    reps = reps * len(lengths) if len(reps) == 1 else reps
    wanted = [e for e in args.engines.split(",") if e]
    onnx = prepare.export_onnx(mdir, work) if any(e != "ember_fp32" for e in wanted) else None
    run = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "command": "bench/compare/long_sequence.py " + " ".join(shlex.quote(a) for a in argv),
           "model": str(mdir), "config": cfg, "description": describe(mdir),
           "settings": {"threads": args.threads, "warmup": args.warmup, "reps": reps,
                        "pause_s": args.pause_s, "seed": args.seed, "batch": 1,
                        "output": "last hidden state [L, H]"},
           "machine": compare.machine_info(), "versions": compare.versions(args.ember),
           "load_before": os.getloadavg(), "notes": list(args.note), "results": []}
    t_start = time.time()
    out = Path(args.out).with_suffix(".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    for li, length in enumerate(lengths):
        ids = compare.cell_ids(mdir, cfg["vocab"], 1, length, args.seed)
        procs = {}

        def failed(e, what, ex):
            """An engine that fails at this length (e.g. killed for memory) is left out of
            it, with a note; the other engines and lengths go on."""
            run["notes"].append(f"{e} at {length} tokens: {what} failed "
                                f"({ex.__class__.__name__}: {str(ex)[:200]}); not timed there")
            log(run["notes"][-1])
            p = procs.pop(e, None)
            if p is not None and p.proc_alive():
                p.kill()

        for e in wanted:
            if f"{e}@{length}" in args.skip:
                continue
            t0 = time.time()
            try:
                procs[e] = (EmberProcess(args.ember, mdir, args.threads, work / "ember")
                            if e == "ember_fp32" else PeerProcess(e, onnx, args.threads))
                procs[e].prepare(ids, work)
            except Exception as ex:  # noqa: BLE001 (reported in the notes)
                failed(e, "loading", ex)
                continue
            log(f"{length}: {e} loaded in {time.time() - t0:.1f} s")
        loaded = {e: proc_mem(p.pid) for e, p in procs.items()}
        for p in procs.values():
            reset_peak(p.pid)
        # Correctness (the first run of each engine, untimed), against Ember's output.
        hidden = {}
        for e in list(procs):
            try:
                hidden[e] = procs[e].hidden(work)
            except Exception as ex:  # noqa: BLE001
                failed(e, "the first run", ex)
        check = {}
        ref_name = "ember_fp32" if "ember_fp32" in hidden else next(iter(hidden), None)
        for e, h in hidden.items():
            check[e] = agreement(hidden[ref_name], h)
            check[e]["ok"] = check[e]["pooled_cos"] >= 0.999
            log(f"{length}: {e} vs {ref_name}: pooled cos {check[e]['pooled_cos']:.6f}, "
                f"token cos min {check[e]['token_cos_min']:.6f}")
        del hidden
        timed = [e for e in procs if check[e]["ok"]]
        for w in range(args.warmup):
            for e in list(timed):
                time.sleep(args.pause_s)
                try:
                    procs[e].run()
                except Exception as ex:  # noqa: BLE001
                    failed(e, "a warm-up run", ex)
                    timed.remove(e)
        ms = {e: [] for e in timed}
        cpu = {e: [] for e in timed}
        for r in range(reps[li]):
            order = timed[r % max(len(timed), 1):] + timed[:r % max(len(timed), 1)]
            for e in order:
                time.sleep(args.pause_s)
                try:
                    c0 = cpu_seconds(procs[e].pid)
                    t = procs[e].run()
                    c = (cpu_seconds(procs[e].pid) - c0) * 1e3
                except Exception as ex:  # noqa: BLE001
                    failed(e, f"repetition {r}", ex)
                    timed.remove(e)
                    del ms[e], cpu[e]
                    continue
                ms[e].append(t)
                cpu[e].append(c)
            log(f"{length} rep {r}: " + ", ".join(
                f"{e} {ms[e][-1]:.0f} ({cpu[e][-1]:.0f} cpu)" for e in timed) + " ms")
        for e, p in procs.items():
            mem = proc_mem(p.pid)
            row = {"engine": e, "batch": 1, "length": length, "check": check[e],
                   "rss_loaded_mib": loaded[e]["VmRSS"], "rss_peak_mib": mem["VmHWM"]}
            if ms.get(e):
                v = np.array(ms[e])
                row.update(ms=ms[e], median_ms=float(np.median(v)), min_ms=float(v.min()),
                           cpu_ms=cpu[e], median_cpu_ms=float(np.median(cpu[e])))
            run["results"].append(row)
            p.close()
        log(f"{length}: " + ", ".join(
            f"{r['engine']} {r.get('median_ms', float('nan')):.0f} ms, peak {r['rss_peak_mib']:.0f}"
            f" MiB" for r in run["results"] if r["length"] == length))
        # What is measured so far, in case a later (longer) length does not finish.
        out.write_text(json.dumps(dict(run, partial=True, load_after=os.getloadavg(),
                                       duration_s=round(time.time() - t_start, 1)), indent=1))
    by_length = {}
    for r in run["results"]:
        by_length.setdefault(r["length"], {})[r["engine"]] = r
    run["ratios"] = {str(k): ratios(v) for k, v in by_length.items()}
    run["load_after"] = os.getloadavg()
    run["duration_s"] = round(time.time() - t_start, 1)
    out.write_text(json.dumps(run, indent=1))
    log(f"wrote {out}")
    earlier = [json.loads(Path(f).read_text()) for f in args.with_runs.split(",") if f]
    write_section(args.markdown, [run] + earlier)
    return 0


def describe(mdir):
    """The model's shape in words, from its config.json."""
    c = json.loads((Path(mdir) / "config.json").read_text())
    if c.get("model_type") == "modernbert":
        return (f"ModernBERT-base's shape with random weights ({c['num_hidden_layers']} layers, "
                f"hidden {c['hidden_size']}, {c['num_attention_heads']} heads, global attention "
                f"every {c.get('global_attn_every_n_layers', 3)}rd layer, local window "
                f"{c.get('local_attention', 128)})")
    if c.get("model_type") == "qwen3":
        theta = c.get("rope_theta") or (c.get("rope_parameters") or {}).get("rope_theta")
        return (f"Qwen3-Embedding-0.6B's shape with random weights ({c['num_hidden_layers']} "
                f"layers, hidden {c['hidden_size']}, {c['num_attention_heads']} query / "
                f"{c['num_key_value_heads']} key-value heads of {c['head_dim']}, intermediate "
                f"{c['intermediate_size']}, causal attention, RoPE theta {theta:g})")
    return (f"{c.get('model_type')}: {c.get('num_hidden_layers')} layers, hidden "
            f"{c.get('hidden_size')}")


def ratios(by):
    """Best peer / Ember at one length: of the medians (wall and CPU time), and the median
    over repetitions of each repetition's own ratio (the interleaved ratio: a repetition's
    engines ran back to back, under the same load)."""
    ember = by.get("ember_fp32", {})
    peers = [r for e, r in by.items() if e != "ember_fp32" and "ms" in r]
    if "ms" not in ember or not peers:
        return None
    per_rep = [min(p["ms"][i] for p in peers) / ember["ms"][i] for i in range(len(ember["ms"]))]
    return {"wall_of_medians": min(p["median_ms"] for p in peers) / ember["median_ms"],
            "cpu_of_medians": min(p["median_cpu_ms"] for p in peers) / ember["median_cpu_ms"],
            "interleaved_median": float(np.median(per_rep)), "per_rep": per_rep}


def markdown(run):
    """The table of docs/benchmarks.md's long-sequence section."""
    rows = {}
    for r in run["results"]:
        rows.setdefault(r["length"], {})[r["engine"]] = r
    out = ["| tokens | engine | median ms | median CPU ms | peak RSS MiB | RSS after load MiB |"
           " pooled cos vs Ember | best peer / Ember: interleaved (of medians, CPU) |",
           "|---|---|---:|---:|---:|---:|---:|---|"]
    for length, by in sorted(rows.items()):
        q = ratios(by)
        for e, r in by.items():
            ratio = ""
            if e == "ember_fp32" and q:
                ratio = (f"**{q['interleaved_median']:.2f}x** ({q['wall_of_medians']:.2f}x, "
                         f"{q['cpu_of_medians']:.2f}x)")
            med = f"{r['median_ms']:.0f}" if "median_ms" in r else "not timed"
            cpu = f"{r['median_cpu_ms']:.0f}" if "median_cpu_ms" in r else ""
            out.append(f"| {length} | {e} | {med} | {cpu} | {r['rss_peak_mib']:.0f} | "
                       f"{r['rss_loaded_mib']:.0f} | {r['check']['pooled_cos']:.6f} | {ratio} |")
    return "\n".join(out)


def section(runs):
    """docs/benchmarks.md's long-sequence section from one or more runs: one subsection per
    model (runs of the same model: one table)."""
    import report
    models = {}
    for run in runs:
        models.setdefault(Path(run["model"]).name, []).append(run)
    lines = [report.KEPT_BEGIN, "## Long sequences (issue #19)", "",
             "Generated by `bench/compare/long_sequence.py`; rerun it rather than editing. "
             "Models that read 8,192 tokens, with random weights "
             "(`bench/compare/make_long_model.py`), batch 1, fp32, 2 threads for every engine, "
             "last hidden state. Ratios are best peer / Ember (> 1: Ember faster): the "
             "**interleaved** ratio is the median over repetitions of each repetition's own ratio "
             "(its engines ran back to back), then the "
             "ratio of the medians of wall and of process CPU time. Peak RSS is each engine's own "
             "process at that length alone (a fresh process per length; VmHWM).", ""]
    for name, group in sorted(models.items()):
        lines += model_section(name, group)
    lines += ["Rerun:", "", "```bash",
              "# once: the models (a venv with torch + transformers, e.g. .venv-compare); "
              "~600 MB and ~2.4 GB",
              "$VENV/bin/python bench/compare/make_long_model.py modernbert-base-random "
              "qwen3-embedding-0.6b-random",
              "cmake --build build --target ember",
              "bench/compare/setup.sh && .venv-compare/bin/python bench/compare/long_sequence.py "
              "--lengths 1024,2048,8192 --reps 5,5,2 --skip ort_fp32@8192 "
              "--out bench/results/DATE-long-sequence",
              ".venv-compare/bin/python bench/compare/long_sequence.py "
              "--model qwen3-embedding-0.6b-random --lengths 1024,2048,8192 --reps 3,3,1 "
              "--skip ort_fp32@8192 --with bench/results/DATE-long-sequence.json "
              "--out bench/results/DATE-long-sequence-qwen3",
              "```", "",
              "The ONNX model is `prepare.export_onnx` (TorchScript exporter, eager attention, "
              "traced at 300 tokens for ModernBERT so that the local window's mask is traced as "
              "computed), run as exported by ONNX Runtime (`ORT_ENABLE_ALL`; its BERT fusion "
              "script knows neither ModernBERT nor Qwen3) and compiled by OpenVINO "
              "(`INFERENCE_PRECISION_HINT=f32`, 1 stream, `LATENCY`). Both run ModernBERT's local "
              "layers as full attention under a mask: the graph has no windowed attention op.",
              "", report.KEPT_END]
    return "\n".join(lines)


def model_section(name, runs):
    merged = dict(runs[0], results=[r for run in runs for r in run["results"]])
    desc = runs[0].get("description") or (
        "ModernBERT-base's shape with random weights (22 layers, hidden 768, 12 heads, global "
        "attention every 3rd layer, local window 128)")
    lines = [f"### {name}", "", f"{desc}.", ""]
    for run in runs:
        cores = run["machine"].get("cores") or 1
        if max(run["load_before"][0], run["load_after"][0]) > cores:
            lines += [f"- **Provisional**: the machine was shared during this run (load average "
                      f"above its {cores} cores), so wall times are inflated and vary by run; "
                      "read the interleaved ratios and the CPU-time ratios, not the absolute "
                      "ms."]
        lines += [f"- Run {run['date']}, {run['duration_s'] / 60:.1f} min: `{run['command']}`; "
                  f"load average before {', '.join(f'{x:.1f}' for x in run['load_before'])}, "
                  f"after {', '.join(f'{x:.1f}' for x in run['load_after'])}; "
                  f"ember {run['versions'].get('ember_commit', '?')}, onnxruntime "
                  f"{run['versions'].get('onnxruntime')}, openvino "
                  f"{str(run['versions'].get('openvino')).split('-')[0]}; repetitions "
                  f"{run['settings']['reps']}, pause {run['settings']['pause_s']} s before each "
                  "timed run."]
        lines += [f"- Note: {n}" for n in run.get("notes", [])]
    lines += ["", markdown(merged), ""]
    by_length = {}
    for r in merged["results"]:
        by_length.setdefault(r["length"], {})[r["engine"]] = r
    for length in (2048, 8192):
        q = ratios(by_length.get(length, {}))
        if q:
            met = "met" if q["interleaved_median"] >= 1.2 else "**not met**"
            lines.append(f"- Target (issue #19) Ember >= 1.2x the best peer at {length} tokens: "
                         f"{met} (interleaved {q['interleaved_median']:.2f}x; per repetition "
                         f"{', '.join(f'{x:.2f}' for x in q['per_rep'])}).")
    for e in sorted({r["engine"] for r in merged["results"]}):
        grow = [(length, by[e]["rss_peak_mib"] - by[e]["rss_loaded_mib"])
                for length, by in sorted(by_length.items()) if e in by]
        lines.append(f"- {e}: memory above the loaded process, per 1,000 tokens: " + ", ".join(
            f"{g / length * 1000:.1f} MiB at {length}" for length, g in grow) +
            " (constant: linear in length; growing with length: quadratic).")
    lines.append("")
    return lines


def write_section(path, runs):
    text = section(runs)
    print(text)
    if path:
        import report
        p = Path(path)
        p.write_text(report.with_block(p.read_text(), text))
        log(f"wrote the long-sequence section of {p}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
