"""docs/benchmarks.md from one run of compare.py: machine, versions, commands, per model a
table of Ember's median and the ratio peer/Ember for every cell (> 1: Ember faster), the
issue #5 targets marked met / not met, and Ember's GFLOP/s at bert-base 8x128 against the
measured sgemm peak."""

PEERS = ["ort_fp32", "ort_int8", "torch_fp32", "torch_int8", "ct2_fp32", "ct2_int8",
         "ov_fp32", "ov_bf16",
         "ember_base_fp32", "ember_base_int8"]  # the last two: --ember-base, an A/B binary
# Which Ember column each peer is compared with: fp32 with fp32, int8 with int8, bf16 with
# bf16 (Ember int8
# falling back to fp32 would flatter nobody, so a missing Ember int8 leaves the int8 ratios
# empty).
BASE = {p: "ember_" + p.rsplit("_", 1)[1] for p in PEERS}
BASE_MODELS = ("all-MiniLM-L6-v2", "bert-base-uncased-random")

RERUN = """## Rerun

```
scripts/fetch_models.sh && scripts/make_random_model.sh        # the models
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build --target ember bench_gemm_bench
bench/compare/run.sh                                           # full grid, both models
bench/compare/run.sh --grid 1x16,1x128 --reps 3                # a quick look
bench/compare/run.sh --estimate-only                           # expected duration only
```

- `bench/compare/run.sh` runs `bench/compare/setup.sh` (a venv `.venv-compare` with the pinned
  peers of `bench/compare/requirements.txt`; PyPI's torch brings several GB of CUDA wheels.
  `--base-env DIR` / `EMBER_COMPARE_BASE_ENV=DIR` layers it on an existing venv that has
  torch, so only what that one lacks is installed), then `compare.py` with its arguments:
  `--ember PATH` (default `build/src/cli/ember`, or `$EMBER`), `--models`, `--engines`,
  `--grid 1x16,8x128`, `--threads` (2), `--reps` (most per cell, 11), `--min-reps` (3),
  `--cell-seconds` (4: repetitions per cell = 4 s / the cost of one repetition, measured in
  the warm-up, clamped to [min-reps, reps]), `--out` (JSON + CSV), `--markdown` (this file),
  `--note TEXT` (a paragraph for "Notes"), `--ember-env KEY=VALUE` (environment of the ember
  processes), `--report-only JSON` (rewrite this file from an earlier run's JSON).
  The expected duration is printed first (and refined per model after its check cell); the
  full grid with the defaults is ~17 min of timing plus ~1-3 min of loading on a quiet machine.
- Models are prepared once into `~/.cache/ember/compare/<model>/` (`--work`): ONNX export
  (TorchScript exporter, eager attention, opset 17, dynamic batch/sequence axes),
  `onnxruntime.transformers.optimizer.optimize_model(model_type="bert")`,
  `quantize_dynamic` (QInt8 weights), CTranslate2 conversion, and `ember quantize` for
  Ember int8 when the binary has that command (redone when the binary changes). OpenVINO
  compiles the plain ONNX export itself (its own fusions).
- What is timed: every engine gets the same token ids (numpy, `[CLS]` + uniform random ids
  from [1000, vocab) + `[SEP]`, exactly batch x length tokens, seeded per cell) and returns the
  **last hidden state** [B, L, H] (no pooling, no tokenization). Ember runs as a persistent
  `ember bench --serve-stdin` process per model variant: the model is loaded once, each
  request `time IDS_FILE 1` is timed inside Ember around `Engine::run`, so process start,
  model load and the pipe are not in Ember's numbers; the Python peers are timed with
  `time.perf_counter()` around the call (their Python call overhead, ~10-50 us, is in).
  Every repetition runs every engine once, in an order rotated by one each repetition. After
  each run the harness waits until no other thread is runnable (`--idle-wait-ms`, at most
  250 ms: ONNX Runtime's intra-op threads spin for 40-50 ms after a run, OpenMP's for a while
  too, and would otherwise take a core from the next engine), then 5 ms more (`--settle-ms`).
  So every engine starts from an idle machine, as a server does between sporadic requests.
  The JSON's `busy_after_run_ms` says how long each engine kept the machine busy after its runs.
- Threads: ONNX Runtime `intra_op_num_threads=2, inter_op_num_threads=1`, sequential;
  PyTorch `set_num_threads(2)`, `set_num_interop_threads(1)`; CTranslate2
  `intra_threads=2, inter_threads=1`; OpenVINO `INFERENCE_NUM_THREADS=2, NUM_STREAMS=1`,
  `PERFORMANCE_HINT=LATENCY`, `INFERENCE_PRECISION_HINT` f32 (ov_fp32) or bf16 (ov_bf16; its
  default on CPUs with avx512_bf16); Ember `--threads 2` (ember_bf16: `--dtype bf16`, which
  runs fp32 on CPUs without avx512_bf16).
- Before timing, each engine's output on one cell (`--check-cell`, 2x16) is compared with
  PyTorch fp32: fp32 and bf16 engines need cosine >= 0.99 on every token, int8 engines 0.9 on
  average; an engine that fails is not timed (the table below lists the cosines).
"""


def forward_gflop(cfg, batch, length):
    """FLOPs of one forward pass: 2 x tokens x (parameters in the linears) + attention
    (QK^T and PV: 2 x 2 x L^2 x H per layer and sequence). Embeddings, LayerNorm, GELU and
    softmax are O(tokens x H) and left out (docs/performance.md counts the same way)."""
    h, i, n = cfg["hidden"], cfg["intermediate"], cfg["layers"]
    linear = 4 * h * h + 2 * h * i
    return (2.0 * batch * length * linear * n + 4.0 * batch * length * length * h * n) / 1e9


def _fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def _index(run):
    return {(r["model"], r["engine"], r["batch"], r["length"]): r for r in run["results"]}


def _ratio(idx, model, peer, cell):
    p = idx.get((model, peer) + cell)
    e = idx.get((model, BASE[peer]) + cell)
    if not p or not e:
        return None
    return p["median_ms"] / e["median_ms"]


def _cells(run, model):
    return sorted({(r["batch"], r["length"]) for r in run["results"] if r["model"] == model})


def targets(run):
    """[(description, status, detail)] for the issue's speed targets."""
    idx = _index(run)
    out = []

    def ratios(model, peer, cells):
        return {c: _ratio(idx, model, peer, c) for c in cells}

    for model in BASE_MODELS:
        if model not in run["models"]:
            continue
        cells = _cells(run, model)
        r = ratios(model, "ort_fp32", cells)
        have = {c: v for c, v in r.items() if v is not None}
        slow = [f"{b}x{l} ({v:.2f})" for (b, l), v in have.items() if v < 1.0]
        out.append((f"{model}: Ember fp32 >= ORT fp32 in every cell",
                    "not measured" if not have else ("met" if not slow else "NOT MET"),
                    f"{len(have)} cells; min ratio {min(have.values()):.2f}"
                    + (f"; slower in {', '.join(slow)}" if slow else "") if have else ""))
        small = [c for c in cells if c[0] == 1 and 8 <= c[1] <= 32]
        r = {c: v for c, v in ratios(model, "ort_fp32", small).items() if v is not None}
        out.append((f"{model}: Ember fp32 >= 1.3x ORT fp32 at batch 1, 8-32 tokens",
                    "not measured" if not r else
                    ("met" if min(r.values()) >= 1.3 else "NOT MET"),
                    ", ".join(f"{b}x{l}: {v:.2f}" for (b, l), v in sorted(r.items()))))
        v = _ratio(idx, model, "ort_int8", (1, 128))
        why = "" if v is not None else "; ".join(
            n for n in run["models"][model].get("notes", []) if "ember_int8" in n)
        out.append((f"{model}: Ember int8 >= 1.2x ORT int8 at 1x128",
                    "not measured" if v is None else ("met" if v >= 1.2 else "NOT MET"),
                    _fmt(v) if v is not None else why))
        v = _ratio(idx, model, "torch_fp32", (1, 16))
        out.append((f"{model}: Ember fp32 >= 3x PyTorch eager fp32 at 1x16",
                    "not measured" if v is None else ("met" if v >= 3.0 else "NOT MET"),
                    _fmt(v)))
    return out


def gflops(run):
    """Ember fp32's GFLOP/s at bert-base 8x128 and the sgemm peak on the same shapes."""
    model = "bert-base-uncased-random"
    r = _index(run).get((model, "ember_fp32", 8, 128))
    if not r or model not in run["models"]:
        return None
    cfg = run["models"][model]["config"]
    flop = forward_gflop(cfg, 8, 128)
    ember = flop / (r["median_ms"] / 1e3)
    res = {"gflop": flop, "ember_ms": r["median_ms"], "ember_gflops": ember}
    g = run.get("gemm", {}).get("gflops")
    if g:
        h, i, n = cfg["hidden"], cfg["intermediate"], cfg["layers"]
        m = 8 * 128
        # The forward's linears as single GEMMs at the measured rates: time-weighted peak.
        parts = [(f"{3 * h}x{h}", 2.0 * m * 3 * h * h), (f"{h}x{h}", 2.0 * m * h * h),
                 (f"{i}x{h}", 2.0 * m * i * h), (f"{h}x{i}", 2.0 * m * h * i)]
        if all(k in g for k, _ in parts):
            t = sum(f / (g[k] * 1e9) for k, f in parts)
            res["peak_gflops"] = sum(f for _, f in parts) / t / 1e9
            res["peak_max_gflops"] = max(g[k] for k, _ in parts)
            res["fraction"] = ember / res["peak_gflops"]
            res["gemm_only_ms"] = t * n * 1e3
    return res


def summary(run):
    lines = []
    idx = _index(run)
    for model in run["models"]:
        for cell in _cells(run, model):
            e = idx.get((model, "ember_fp32") + cell)
            parts = [f"{model} {cell[0]}x{cell[1]}: ember_fp32 "
                     f"{_fmt(e['median_ms'] if e else None)} ms"]
            for p in PEERS:
                v = _ratio(idx, model, p, cell)
                if v is not None:
                    parts.append(f"{p}/ember {v:.2f}")
            lines.append(", ".join(parts))
    for d, s, detail in targets(run):
        lines.append(f"target: {d}: {s} ({detail})")
    g = gflops(run)
    if g:
        lines.append(f"bert-base 8x128: Ember {g['ember_gflops']:.1f} GFLOP/s"
                     + (f" = {g['fraction']:.2f} of sgemm peak {g['peak_gflops']:.1f}"
                        if "fraction" in g else ""))
    return "\n".join(lines)


def markdown(run):
    m = run["machine"]
    v = run["versions"]
    s = run["settings"]
    idx = _index(run)
    reps_text = (str(s["reps"]) if s["min_reps"] >= s["reps"]
                 else f"{s['min_reps']}-{s['reps']}")
    out = ["# Benchmarks: Ember side by side with ONNX Runtime, PyTorch, CTranslate2 and OpenVINO",
           "",
           "Generated by `bench/compare/compare.py` (issue #5); do not edit by hand, rerun "
           "(see \"Rerun\" at the end). Numbers are medians over interleaved repetitions of one "
           "run; ratios are **peer ms / Ember ms** of the same cell (> 1: Ember faster), int8 "
           "peers against Ember int8, fp32 peers against Ember fp32.", "",
           "## Run", "",
           f"- Date: {run['date']}, duration {run.get('duration_s', 0) / 60:.1f} min.",
           f"- Command: `{run['command']}`",
           f"- Machine: {m.get('cpu')}, {m.get('CPU(s)', m.get('cores'))} CPUs "
           f"({m.get('Core(s) per socket', '?')} cores per socket, "
           f"{m.get('Thread(s) per core', '?')} thread per core), "
           f"family {m.get('CPU family', '?')} model {m.get('Model', '?')}, "
           f"L2 {m.get('L2 cache', '?')}, L3 {m.get('L3 cache', '?')}, "
           f"hypervisor {m.get('Hypervisor vendor', 'none')}, kernel {m.get('kernel')}.",
           f"- ISA flags: {' '.join(m.get('flags', []))}.",
           f"- Load average (1, 5, 15 min) before: "
           f"{', '.join(f'{x:.2f}' for x in run['load_before'])}; after: "
           f"{', '.join(f'{x:.2f}' for x in run.get('load_after', []))}.",
           f"- Versions: {v.get('ember')} (commit {v.get('ember_commit')}), onnxruntime "
           f"{v.get('onnxruntime')}, onnx {v.get('onnx')}, torch {v.get('torch')}, transformers "
           f"{v.get('transformers')}, ctranslate2 {v.get('ctranslate2')}, openvino "
           f"{v.get('openvino')}, numpy "
           f"{v.get('numpy')}, Python {v.get('python')}.",
           f"- Settings: {s['threads']} threads for every engine; {s['warmup']} warm-up run(s) "
           f"per engine and cell; {reps_text} repetitions per cell "
           f"(~{s['cell_seconds']} s per cell); after each run a wait until the machine is "
           f"idle (at most {s.get('idle_wait_ms', 0)} ms), then {s['settle_ms']} ms; "
           f"seed {s['seed']}; output: {s['output']}; environment of the ember processes: "
           f"{' '.join(s.get('ember_env', [])) or 'unchanged'}.", ""]

    if run.get("notes"):
        out += ["## Notes", ""] + [f"- {n}" for n in run["notes"]] + [""]
    out += ["## Targets (issue #5)", "", "| target | status | detail |", "|---|---|---|"]
    for d, st, detail in targets(run):
        out.append(f"| {d} | **{st}** | {detail} |")
    out.append("")

    g = gflops(run)
    out += ["## Ember fp32 GFLOP/s at bert-base 8x128", ""]
    if g:
        out.append(f"One forward pass of bert-base at 8 x 128 tokens is {g['gflop']:.1f} GFLOP "
                   "(2 x tokens x linear parameters + attention's QK^T and PV; embeddings, "
                   "LayerNorm, GELU, softmax not counted). Ember fp32 median "
                   f"{g['ember_ms']:.1f} ms = **{g['ember_gflops']:.1f} GFLOP/s**.")
        if "fraction" in g:
            out.append(f"Single-GEMM peak on the same shapes (oneDNN sgemm, M = 1024, "
                       f"`{run['gemm']['command']}`, same run): "
                       f"{', '.join(f'{k}: {x:.1f}' for k, x in run['gemm']['gflops'].items())}"
                       f" GFLOP/s (N x K). The forward's linears at those rates: "
                       f"{g['peak_gflops']:.1f} GFLOP/s (time-weighted; {g['gemm_only_ms']:.1f} "
                       f"ms for the 12 layers' GEMMs alone). **Ember reaches "
                       f"{g['fraction']:.0%} of the sgemm peak** (best single shape "
                       f"{g['peak_max_gflops']:.1f} GFLOP/s).")
        else:
            out.append(f"sgemm peak not measured: {run.get('gemm')}")
    else:
        out.append("Not measured in this run (needs bert-base-uncased-random, cell 8x128, "
                   "engine ember_fp32).")
    out.append("")

    for model, info in run["models"].items():
        cfg = info["config"]
        out += [f"## {model}", "",
                f"{cfg['layers']} layers, hidden {cfg['hidden']}, {cfg['heads']} heads, "
                f"FFN {cfg['intermediate']}; `{info['dir']}`.", ""]
        if info.get("fusions"):
            f = info["fusions"]
            out.append("ONNX Runtime graph after the transformer optimizer: "
                       + ", ".join(f"{k} {n}" for k, n in f.get("optimized", {}).items())
                       + "; int8 graph: "
                       + ", ".join(f"{k} {n}" for k, n in f.get("int8", {}).items()) + ".")
            out.append("")
        out += ["Correctness check against PyTorch fp32 (cell " + s["check_cell"]
                + ", last hidden state, cosine per token):", "",
                "| engine | min cosine | mean cosine | max abs diff | timed |",
                "|---|---:|---:|---:|---|"]
        for e, c in info.get("check", {}).items():
            out.append(f"| {e} | {c['cos_min']:.5f} | {c['cos_mean']:.5f} | "
                       f"{c['max_abs_diff']:.2e} | {'yes' if c['ok'] else 'no'} |")
        out.append("")
        for n in info.get("notes", []):
            out.append(f"- Note: {n}")
        if info.get("notes"):
            out.append("")
        order = ["ember_fp32", "ember_int8", "ember_bf16", "ember_base_fp32", "ember_base_int8"]
        engines = sorted({r["engine"] for r in run["results"] if r["model"] == model},
                         key=lambda e: order.index(e) if e in order else len(order))
        peers = [p for p in PEERS if p in engines]
        out += ["Median ms of Ember (p25-p75 in brackets) and peer/Ember ratios of medians:", "",
                "| cell | reps | Ember fp32 ms | Ember int8 ms | Ember bf16 ms | "
                + " | ".join(f"{p} / Ember" for p in peers) + " |",
                "|---|---:|---:|---:|---:|" + "---:|" * len(peers)]
        for cell in _cells(run, model):
            row = [f"{cell[0]}x{cell[1]}"]
            reps = [idx[(model, e) + cell]["reps"] for e in engines if (model, e) + cell in idx]
            row.append(str(min(reps)) if reps else "-")
            for e in ("ember_fp32", "ember_int8", "ember_bf16"):
                r = idx.get((model, e) + cell)
                row.append(f"{r['median_ms']:.2f} ({r['p25_ms']:.2f}-{r['p75_ms']:.2f})"
                           if r else "-")
            for p in peers:
                row.append(_fmt(_ratio(idx, model, p, cell)))
            out.append("| " + " | ".join(row) + " |")
        out += ["", "Peer medians in ms (p25-p75):", "",
                "| cell | " + " | ".join(peers) + " |", "|---|" + "---:|" * len(peers)]
        for cell in _cells(run, model):
            row = [f"{cell[0]}x{cell[1]}"]
            for p in peers:
                r = idx.get((model, p) + cell)
                row.append(f"{r['median_ms']:.2f} ({r['p25_ms']:.2f}-{r['p75_ms']:.2f})"
                           if r else "-")
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    out.append(RERUN)
    return "\n".join(out)


KEPT_BEGIN, KEPT_END = "<!-- long-sequence: begin -->", "<!-- long-sequence: end -->"


def kept_block(text):
    """The block another generator owns (long_sequence.py's section), markers included."""
    i, j = text.find(KEPT_BEGIN), text.find(KEPT_END)
    return text[i:j + len(KEPT_END)] if 0 <= i < j else ""


def with_block(text, block):
    """text with `block` in place of its own kept block, else before "## Rerun"."""
    if not block:
        return text
    old = kept_block(text)
    if old:
        return text.replace(old, block)
    at = text.find("## Rerun")
    return (text[:at] + block + "\n\n" + text[at:]) if at >= 0 else text + "\n" + block + "\n"


def write(path, text):
    """Writes the report to path, keeping the long-sequence section already there."""
    from pathlib import Path
    path = Path(path)
    block = kept_block(path.read_text()) if path.exists() else ""
    path.write_text(with_block(text, block))
