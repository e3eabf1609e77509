"""docs/benchmarks.md from one run of compare.py: machine, versions, commands, issue #19's
targets (and issue #5's) marked met / not met with the cells that miss them, Ember's
efficiency at bert-base 8x128 against the machine's measured peaks, and per model the accuracy
of bf16 and int8 against fp32 and a table of Ember's median and the ratio peer/Ember for every
cell (> 1: Ember faster)."""

import math

import report_profile
from report_cells import BASE, PEERS, fmt, index, pct, ratio

BASE_MODELS = ("all-MiniLM-L6-v2", "bert-base-uncased-random")
FP32_PEERS = ("ort_fp32", "ov_fp32", "ct2_fp32")
EFFICIENCY_MODEL, EFFICIENCY_CELL = "bert-base-uncased-random", (8, 128)
# Issue #19's bounds.
BF16_SPEEDUP, FP32_SPEEDUP, INT8_SPEEDUP = 1.2, 1.2, 1.5
BF16_COSINE, INT8_COSINE, PROBE_POINTS = 0.9999, 0.99, 0.1
# engine: (probe names of bench_peak_probe, fewest share of that peak issue #19 asks for)
EFFICIENCY = {"ember_fp32": (("fp32_fma_avx512", "fp32_fma_avx2"), 0.85),
              "ember_bf16": (("bf16_dp_avx512",), 0.75),
              "ember_int8": (("int8_dp_avx512",), 0.60)}

RERUN = """## Rerun

```
scripts/fetch_models.sh && scripts/make_random_model.sh        # the models
scripts/fetch_data.sh                                          # the sentiment probe's sentences
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build --target ember bench_gemm_bench bench_peak_probe bench_prune_quality
bench/compare/run.sh                                           # full grid, the three models
bench/compare/run.sh --grid 1x16,1x128 --reps 3                # a quick look
bench/compare/run.sh --estimate-only                           # expected duration only
.venv-compare/bin/python bench/compare/profile_cells.py --out bench/results/2026-12-07-profile-cells.json
bench/compare/run.sh --report-only bench/results/2026-12-07-compare-issue19.json --profile bench/results/2026-12-07-profile-cells.json
```

- `bench/compare/profile_cells.py` (after `run.sh` has prepared the models): the cells where
  Ember misses an issue #19 speed target (`--cells MODEL:DTYPE:BxL,...`; default: MiniLM bf16
  8x128, 1x128, 8x64, fp32 4x128; bert-base fp32 1x128, 8x128, int8 8x128, 1x8; MPNet bf16
  4x256), Ember against the target's peer interleaved, each with its per-op profiler, and
  `bench_peak_probe`; `--profile FILE` of `compare.py` renders it as "Where the targets are
  missed: the profile".

- `bench/compare/run.sh` runs `bench/compare/setup.sh` (a venv `.venv-compare` with the pinned
  peers of `bench/compare/requirements.txt`; PyPI's torch brings several GB of CUDA wheels.
  `--base-env DIR` / `EMBER_COMPARE_BASE_ENV=DIR` layers it on an existing venv that has
  torch, so only what that one lacks is installed), then `compare.py` with its arguments:
  `--ember PATH` (default `build/src/cli/ember`, or `$EMBER`), `--models` (default
  all-MiniLM-L6-v2, bert-base-uncased-random, all-mpnet-base-v2), `--engines` (default every
  engine but PyTorch's: `torch_fp32,torch_int8` run when named; PyTorch fp32 is the
  correctness reference either way), `--grid 1x16,8x128`, `--threads` (2), `--reps` (most per
  cell, 11), `--min-reps` (3),
  `--cell-seconds` (4: repetitions per cell = 4 s / the cost of one repetition, measured in
  the warm-up, clamped to [min-reps, reps]), `--out` (JSON + CSV), `--markdown` (this file),
  `--note TEXT` (a paragraph for "Notes"), `--ember-env KEY=VALUE` (environment of the ember
  processes), `--report-only JSON` (rewrite this file from an earlier run's JSON),
  `--accuracy-cells` (2x16,8x128), `--no-peak`, `--no-gemm`, `--no-probe`, `--probe-sample`
  (6000), `--probe-folds` (10), `--probe-models` (default: the models whose name does not say
  "random").
  The expected duration is printed first (and refined per model after its check cell); the
  full grid with the defaults (3 models, 28 cells, 9 engines) is ~13 min of timing, ~7 min of
  sentiment probes and ~1-3 min of loading per model on a quiet machine (`--min-reps 5`: ~18
  min of timing).
- Models are prepared once into `~/.cache/ember/compare/<model>/` (`--work`): ONNX export
  (TorchScript exporter, eager attention, opset 17, dynamic batch/sequence axes),
  `onnxruntime.transformers.optimizer.optimize_model(model_type="bert")`,
  `quantize_dynamic` (QInt8 weights), CTranslate2 conversion (for the model types it has a
  converter for: BERT, DistilBERT, RoBERTa family; MPNet's ct2 columns are n/a), and
  `ember quantize --dtype int8|bf16` for the sentiment probe's Ember int8 and bf16 models
  (redone when the binary changes). OpenVINO compiles the plain ONNX export itself (its own
  fusions). Ember bf16 in the timed grid is the fp32 model loaded with `--dtype bf16` (the
  same rounding to nearest even as `ember quantize --dtype bf16`).
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
  PyTorch fp32: fp32 and bf16 engines need cosine >= 0.99 on every token (one that fails is
  not timed), int8 engines 0.9 on average (one that fails is timed, flagged "inaccurate":
  ORT int8 on MPNet, whose per-tensor activation quantization loses it); the tables below list
  the cosines. Then each
  bf16 and int8 engine against its own runtime's fp32 on `--accuracy-cells` (Ember bf16 and
  int8 against Ember fp32: issue #19's accuracy targets).
- Right after bert-base's 8x128 cell: `bench_peak_probe OUT --threads 2 --seconds 0.3
  --repeats 5` (fp32 FMA, bf16 `vdpbf16ps`, int8 `vpdpbusd` peaks on 1 and 2 threads) and the
  oneDNN sgemm peak (`bench_gemm_bench`). Every timed run also records its CPU time: Ember's
  from `ember bench --serve-stdin` (`cpu_ms`, the process's CPU clock around `Engine::run`),
  the Python peers' from the harness process's CPU clock around the call.
- After each model with real weights, the sentiment probe: `bench_prune_quality MODEL OUT
  --data movieReviewSnippets_GroundTruth.txt --sample 6000 --folds 10 --threads 2
  EMBER_BF16_DIR EMBER_INT8_DIR` (prune/quality.h: sentence embeddings of Ember fp32 and of each
  variant, their cosines, and a logistic-regression probe of the rating's sign trained on each
  model's own embeddings, 10-fold cross-validated so that every sentence is scored once;
  `--probe-folds 0` trains on 70% and scores the other 30%).
"""


def forward_gflop(cfg, batch, length):
    """FLOPs of one forward pass: 2 x tokens x (parameters in the linears) + attention
    (QK^T and PV: 2 x 2 x L^2 x H per layer and sequence). Embeddings, LayerNorm, GELU and
    softmax are O(tokens x H) and left out (docs/performance.md counts the same way)."""
    h, i, n = cfg["hidden"], cfg["intermediate"], cfg["layers"]
    linear = 4 * h * h + 2 * h * i
    return (2.0 * batch * length * linear * n + 4.0 * batch * length * length * h * n) / 1e9


def _cells(run, model):
    return sorted({(r["batch"], r["length"]) for r in run["results"] if r["model"] == model})


def _down(v, bound):
    """v with two decimals, or three (rounded down) where two would round it up to the bound."""
    if v >= bound or round(v, 2) < bound:
        return f"{v:.2f}"
    return f"{math.floor(v * 1000) / 1000:.3f}"


def _every_cell(ratios, bound):
    """(status, detail) of "ratio >= bound in every cell" over {cell: ratio or None}."""
    have = {c: v for c, v in ratios.items() if v is not None}
    if not have:
        return "not measured", ""
    below = [f"{b}x{l} ({_down(v, bound)})" for (b, l), v in sorted(have.items()) if v < bound]
    missing = [f"{b}x{l}" for (b, l), v in sorted(ratios.items()) if v is None]
    detail = (f"min {_down(min(have.values()), bound)} over {len(have)} cells"
              + (f"; below {bound}x in {len(below)}: {', '.join(below)}" if below else "")
              + (f"; not measured in {', '.join(missing)}" if missing else ""))
    return ("met" if not below and not missing else "NOT MET"), detail


def _notes_about(run, model, engines):
    return [n for n in run["models"][model].get("notes", [])
            if any(n.startswith(e) or f" {e} " in n for e in engines)]


def best_fp32_peer(idx, model, cell):
    """(peer, ratio of that peer's median to Ember fp32's) of the fastest fp32 peer."""
    r = {p: ratio(idx, model, p, cell) for p in FP32_PEERS}
    r = {p: v for p, v in r.items() if v is not None}
    return min(r.items(), key=lambda kv: kv[1]) if r else (None, None)


def _accuracy(run, model, engine, bound):
    """(status, detail) of "embeddings at cosine >= bound of Ember fp32": the mean-pooled
    embeddings of the harness's accuracy cells and the sentence embeddings of the sentiment
    probe's sentences, whichever were measured."""
    info = run["models"][model]
    parts, lows = [], []
    acc = info.get("accuracy", {}).get(engine)
    if acc:
        lows.append(acc["pooled_cos_min"])
        parts.append(f"random-id cells {', '.join(acc['cells'])}: pooled min "
                     f"{acc['pooled_cos_min']:.6f} (per token min {acc['cos_min']:.6f})")
    pr = info.get("probe", {}).get("engines", {}).get(engine)
    if pr:
        lows.append(pr["min_cosine"])
        parts.append(f"{info['probe']['sentences']} VADER sentences: min {pr['min_cosine']:.6f},"
                     f" mean {pr['mean_cosine']:.6f}")
    if not lows:
        return "not measured", "; ".join(_notes_about(run, model, [engine]))
    return ("met" if min(lows) >= bound else "NOT MET"), "; ".join(parts)


def _probe(run, model, engine):
    info = run["models"][model]
    p = info.get("probe")
    if not p:
        why = ("random weights: no probe" if "random" in model
               else "not run (--no-probe, or bench_prune_quality / the data missing)")
        return "not measured", why
    if "error" in p:
        return "not measured", p["error"].strip().replace("\n", " ")[:200]
    e = p["engines"].get(engine)
    if not e:
        return "not measured", f"{engine} not in the probe"
    d = (e["probe_accuracy"] - e["probe_accuracy_base"]) * 100
    n = e.get("probe_texts") or e.get("test", 0)
    folds = e.get("probe_folds", 0)
    how = (f"{folds}-fold cross-validated over {n} sentences" if folds and folds >= 2
           else f"{n} held-out sentences")
    detail = (f"accuracy {e['probe_accuracy'] * 100:.2f}% vs fp32 "
              f"{e['probe_accuracy_base'] * 100:.2f}% ({d:+.2f} points; {how}, one sentence = "
              f"{100 / n if n else 0:.3f} points)")
    if "probe_accuracy_base_probe" in e:
        db = (e["probe_accuracy_base_probe"] - e["probe_accuracy_base"]) * 100
        detail += (f"; fp32's own probe on {engine.removeprefix('ember_')} embeddings "
                   f"{e['probe_accuracy_base_probe'] * 100:.2f}% ({db:+.2f})")
    return ("met" if abs(d) <= PROBE_POINTS else "NOT MET"), detail


def efficiency(run):
    """{engine: {...}} of Ember fp32 / bf16 / int8 at bert-base 8x128 against the measured
    peaks at the run's thread count: per wall second (GFLOP of the forward / median ms, against
    the threads' peak together) and per CPU second (against one thread's peak per second of its
    CPU time)."""
    model, cell = EFFICIENCY_MODEL, EFFICIENCY_CELL
    if model not in run["models"]:
        return {}
    idx = index(run)
    threads = run["settings"]["threads"]
    flop = forward_gflop(run["models"][model]["config"], *cell)
    peaks = {(p["probe"], p["threads"]): p for p in run.get("peaks", {}).get("results", [])}
    out = {}
    for engine, (probes, bound) in EFFICIENCY.items():
        r = idx.get((model, engine) + cell)
        if not r:
            continue
        e = {"gflop": flop, "ms": r["median_ms"], "cpu_ms": r.get("median_cpu_ms"),
             "bound": bound, "gflops": flop / (r["median_ms"] / 1e3)}
        if e["cpu_ms"]:
            e["gflops_per_cpu_s"] = flop / (e["cpu_ms"] / 1e3)
        have = [peaks[(p, threads)] for p in probes if (p, threads) in peaks]
        if have:
            pk = max(have, key=lambda p: p["peak_wall"])
            e.update(probe=pk["probe"], instruction=pk["instruction"],
                     peak_wall=pk["peak_wall"], peak_thread=pk["per_thread_cpu_time"],
                     wall=e["gflops"] / pk["peak_wall"])
            if "gflops_per_cpu_s" in e:
                e["cpu"] = e["gflops_per_cpu_s"] / pk["per_thread_cpu_time"]
        out[engine] = e
    return out


def targets19(run):
    """[(model, target, status, detail)] for issue #19's targets."""
    idx = index(run)
    out = []
    for model in run["models"]:
        cells = _cells(run, model)
        st, d = _every_cell({c: ratio(idx, model, "ov_bf16", c) for c in cells}, BF16_SPEEDUP)
        out.append((model, f"Ember bf16 >= {BF16_SPEEDUP}x OpenVINO bf16 in every cell", st,
                    d or "; ".join(_notes_about(run, model, ["ember_bf16", "ov_bf16"]))))
        st, d = _accuracy(run, model, "ember_bf16", BF16_COSINE)
        out.append((model, f"Ember bf16 embeddings at cosine >= {BF16_COSINE} of Ember fp32",
                    st, d))
        st, d = _probe(run, model, "ember_bf16")
        out.append((model, f"Ember bf16 VADER sentiment probe within {PROBE_POINTS} point of "
                    "Ember fp32", st, d))
        best = {c: best_fp32_peer(idx, model, c) for c in cells}
        st, d = _every_cell({c: v for c, (_, v) in best.items()}, FP32_SPEEDUP)
        which = sorted({p for p, _ in best.values() if p})
        na = _notes_about(run, model, list(FP32_PEERS))
        d = (d + (f"; fastest peer per cell among {', '.join(which)}: " + ", ".join(
            f"{b}x{l} {p}" for (b, l), (p, v) in sorted(best.items())
            if p and v is not None and v < FP32_SPEEDUP) if st == "NOT MET" else
            f"; peers {', '.join(which)}") + (f"; {'; '.join(na)}" if na else ""))
        out.append((model, f"Ember fp32 >= {FP32_SPEEDUP}x the best fp32 peer "
                    "(ORT, OpenVINO, CTranslate2) in every cell", st, d))
        st, d = _every_cell({c: ratio(idx, model, "ort_int8", c) for c in cells}, INT8_SPEEDUP)
        chk = run["models"][model].get("check", {}).get("ort_int8", {})
        if d and chk and not chk.get("ok", True):
            d += (f"; ort_int8 is inaccurate on this model (cosine per token against PyTorch "
                  f"fp32: mean {chk['cos_mean']:.3f}, min {chk['cos_min']:.3f})")
        out.append((model, f"Ember int8 >= {INT8_SPEEDUP}x ONNX Runtime int8 in every cell", st,
                    d or "; ".join(_notes_about(run, model, ["ember_int8", "ort_int8"]))))
        st, d = _accuracy(run, model, "ember_int8", INT8_COSINE)
        out.append((model, f"Ember int8 embeddings at cosine >= {INT8_COSINE} of Ember fp32",
                    st, d))
    eff = efficiency(run)
    b, l = EFFICIENCY_CELL
    for engine, (_, bound) in EFFICIENCY.items():
        e = eff.get(engine)
        name = f"Ember {engine.split('_')[1]} at >= {bound:.0%} of the measured peak at {b}x{l}"
        if not e or "wall" not in e:
            pk = run.get("peaks")
            why = ("not in this run" if not e else "peak probe not run (--no-peak)" if not pk
                   else f"peak probe failed: {pk['error']}" if "error" in pk
                   else f"no {'/'.join(EFFICIENCY[engine][0])} peak: the CPU lacks the "
                   "instruction")
            out.append((EFFICIENCY_MODEL, name, "not measured", why))
            continue
        wall_ok = e["wall"] >= bound
        cpu_ok = e.get("cpu") is not None and e["cpu"] >= bound
        st = "met" if wall_ok else ("NOT MET (wall); met per CPU second" if cpu_ok else "NOT MET")
        d = (f"{e['gflops']:.0f} GFLOP/s = **{e['wall']:.0%}** of {e['peak_wall']:.0f} "
             f"({e['instruction']}, {run['settings']['threads']} threads, per wall second)")
        if "cpu" in e:
            d += (f"; {e['gflops_per_cpu_s']:.0f} GFLOP per CPU second = **{e['cpu']:.0%}** of "
                  f"{e['peak_thread']:.0f} (one thread, per second of its CPU time)")
        out.append((EFFICIENCY_MODEL, name, st, d))
    return out


def targets(run):
    """[(description, status, detail)] for issue #5's speed targets."""
    idx = index(run)
    out = []

    def ratios(model, peer, cells):
        return {c: ratio(idx, model, peer, c) for c in cells}

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
        v = ratio(idx, model, "ort_int8", (1, 128))
        why = "" if v is not None else "; ".join(
            n for n in run["models"][model].get("notes", []) if "ember_int8" in n)
        out.append((f"{model}: Ember int8 >= 1.2x ORT int8 at 1x128",
                    "not measured" if v is None else ("met" if v >= 1.2 else "NOT MET"),
                    fmt(v) if v is not None else why))
        v = ratio(idx, model, "torch_fp32", (1, 16))
        if v is not None:  # PyTorch runs only when asked for (--engines)
            out.append((f"{model}: Ember fp32 >= 3x PyTorch eager fp32 at 1x16",
                        "met" if v >= 3.0 else "NOT MET", fmt(v)))
    return out


def gflops(run):
    """Ember fp32's GFLOP/s at bert-base 8x128 and the sgemm peak on the same shapes."""
    model = "bert-base-uncased-random"
    r = index(run).get((model, "ember_fp32", 8, 128))
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
    idx = index(run)
    for model in run["models"]:
        for cell in _cells(run, model):
            e = idx.get((model, "ember_fp32") + cell)
            parts = [f"{model} {cell[0]}x{cell[1]}: ember_fp32 "
                     f"{fmt(e['median_ms'] if e else None)} ms"]
            for p in PEERS:
                v = ratio(idx, model, p, cell)
                if v is not None:
                    parts.append(f"{p}/ember {v:.2f}")
            lines.append(", ".join(parts))
    for model, d, s, detail in targets19(run):
        lines.append(f"target #19: {model}: {d}: {s} ({detail.replace('**', '')})")
    for d, s, detail in targets(run):
        lines.append(f"target #5: {d}: {s} ({detail})")
    g = gflops(run)
    if g:
        lines.append(f"bert-base 8x128: Ember {g['ember_gflops']:.1f} GFLOP/s"
                     + (f" = {g['fraction']:.2f} of sgemm peak {g['peak_gflops']:.1f}"
                        if "fraction" in g else ""))
    return "\n".join(lines)


def markdown(run, profile=None):
    """The report of `run`; with `profile` (profile_cells.py's JSON) also the section that
    explains the missed speed targets with each cell's per-op profile."""
    m = run["machine"]
    v = run["versions"]
    s = run["settings"]
    idx = index(run)
    reps_text = (str(s["reps"]) if s["min_reps"] >= s["reps"]
                 else f"{s['min_reps']}-{s['reps']}")
    out = ["# Benchmarks: Ember side by side with ONNX Runtime, OpenVINO, CTranslate2 and PyTorch",
           "",
           "Generated by `bench/compare/compare.py` (issues #5, #19); do not edit by hand, rerun "
           "(see \"Rerun\" at the end). Numbers are medians over interleaved repetitions of one "
           "run; ratios are **peer ms / Ember ms** of the same cell (> 1: Ember faster), int8 "
           "peers against Ember int8, bf16 peers against Ember bf16, fp32 peers against Ember "
           "fp32.", "",
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
    out += ["## Targets (issue #19)", "",
            "Speed: the ratio peer / Ember of the cell's medians, in every cell of the grid "
            "(the cells below the bound are listed with their ratio). Accuracy: Ember bf16 and "
            "int8 against Ember fp32 on the same input: the lowest cosine of the mean-pooled "
            "embeddings over the random-id cells of `--accuracy-cells` and, for models with real "
            "weights, of the sentence embeddings of the sentiment probe's sentences "
            "(`bench_prune_quality`, below). Efficiency: the forward's GFLOP (as in "
            "\"Efficiency\") per second against `bench_peak_probe`'s peak of the instruction "
            "the dtype computes with, measured in the same run.", "",
            "| model | target | status | detail |", "|---|---|---|---|"]
    for model, d, st, detail in targets19(run):
        out.append(f"| {model} | {d} | **{st}** | {detail} |")
    out.append("")
    t5 = targets(run)
    if t5:
        out += ["## Targets (issue #5)", "",
                "The earlier round's targets, for the two models it named (issue #19's fp32 "
                "bound above is the stronger one).", "",
                "| target | status | detail |", "|---|---|---|"]
        for d, st, detail in t5:
            out.append(f"| {d} | **{st}** | {detail} |")
        out.append("")

    eff = efficiency(run)
    out += ["## Efficiency at bert-base 8x128", ""]
    pk = run.get("peaks", {})
    if pk.get("results"):
        out += [f"The machine's peaks, measured in this run right after bert-base's 8x128 cell "
                f"(`{pk['command']}`: 12 independent chains of one instruction per thread, best "
                f"of {pk.get('repeats', '?')}):", "",
                "| probe | instruction | threads | per wall second | per thread, per CPU second |",
                "|---|---|---:|---:|---:|"]
        for p in pk["results"]:
            out.append(f"| {p['probe']} | `{p['instruction']}` | {p['threads']} | "
                       f"{p['peak_wall']:.1f} {p['unit']} | {p['per_thread_cpu_time']:.1f} |")
        out.append("")
    elif pk:
        out += [f"Peak probe failed: {pk.get('error')}", ""]
    if eff:
        out += ["| engine | median ms | median CPU ms | GFLOP/s (wall) | share of the peak "
                "(wall, all threads) | GFLOP per CPU second | share of one thread's peak | "
                "issue #19 asks |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for engine, e in eff.items():
            out.append(f"| {engine} | {e['ms']:.1f} | {fmt(e['cpu_ms'], 1)} | "
                       f"{e['gflops']:.1f} | {pct(e.get('wall'))} | "
                       f"{fmt(e.get('gflops_per_cpu_s'), 1)} | {pct(e.get('cpu'))} | "
                       f">= {e['bound']:.0%} |")
        out += ["", "The FLOP count is the same for every dtype (2 x tokens x linear parameters "
                "+ attention's QK^T and PV; embeddings, LayerNorm, GELU, softmax not counted), "
                "though attention runs in fp32 in Ember bf16 and int8. Per wall second: against "
                "the peak of all the run's threads at once. Per CPU second: the `ember` "
                "process's CPU time of each run (every thread; `ember bench --serve-stdin`'s "
                "`cpu_ms`), against one thread's peak per second of its own CPU time: the "
                "efficiency of the cycles Ember got, apart from those it waited for a core on a "
                "shared machine.", ""]

    g = gflops(run)
    out += ["### Ember fp32 against the sgemm peak", ""]
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
    if profile:
        out += report_profile.section(run, profile)

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
            timed = c.get("timed", c["ok"])
            out.append(f"| {e} | {c['cos_min']:.5f} | {c['cos_mean']:.5f} | "
                       f"{c['max_abs_diff']:.2e} | "
                       f"{('yes' if c['ok'] else 'yes (inaccurate)') if timed else 'no'} |")
        out.append("")
        if info.get("accuracy"):
            out += ["bf16 and int8 against the same runtime's fp32 (random ids of cells "
                    f"{s.get('accuracy_cells', '?')}; lowest cosine per token and of the "
                    "mean-pooled embedding of each sequence):", "",
                    "| engine | against | per token min | per token mean | pooled min | "
                    "max abs diff |", "|---|---|---:|---:|---:|---:|"]
            for e, a in info["accuracy"].items():
                worst = max(c["max_abs_diff"] for c in a["cells"].values())
                mean = min(c["cos_mean"] for c in a["cells"].values())
                out.append(f"| {e} | {a['base']} | {a['cos_min']:.6f} | {mean:.6f} | "
                           f"{a['pooled_cos_min']:.6f} | {worst:.2e} |")
            out.append("")
        pr = info.get("probe")
        if pr and "engines" in pr:
            out += [f"Sentiment probe (`{pr['command']}`, {pr['seconds']} s): "
                    f"{pr['sentences']} VADER movie-review sentences, label = sign of the human "
                    "rating; a logistic-regression probe trained on each model's own sentence "
                    "embeddings (k-fold cross-validated over every sentence where the run says "
                    "so, else trained on 70% and scored on the rest), and Ember fp32's probe "
                    "scored on each variant's embeddings; cosines (of the held-out 30%) and "
                    "10-NN overlap against Ember fp32's:", "",
                    "| engine | probe accuracy | Ember fp32's | difference (points) | fp32's probe "
                    "on it | min cosine | mean cosine | 10-NN overlap |",
                    "|---|---:|---:|---:|---:|---:|---:|---:|"]
            for e, q in pr["engines"].items():
                bp = q.get("probe_accuracy_base_probe")
                out.append(f"| {e} | {q['probe_accuracy'] * 100:.2f}% | "
                           f"{q['probe_accuracy_base'] * 100:.2f}% | "
                           f"{(q['probe_accuracy'] - q['probe_accuracy_base']) * 100:+.2f} | "
                           f"{'' if bp is None else f'{bp * 100:.2f}%'} | "
                           f"{q['min_cosine']:.6f} | {q['mean_cosine']:.6f} | "
                           f"{q['neighbour_overlap_at_10']:.3f} |")
            out.append("")
        elif pr:
            out += [f"- Sentiment probe failed: {pr.get('error')}", ""]
        for n in info.get("notes", []):
            out.append(f"- Note: {n}")
        if info.get("notes"):
            out.append("")
        order = ["ember_fp32", "ember_int8", "ember_bf16", "ember_base_fp32", "ember_base_int8"]
        engines = sorted({r["engine"] for r in run["results"] if r["model"] == model},
                         key=lambda e: order.index(e) if e in order else len(order))
        peers = [p for p in PEERS if p in engines]
        best = any(p in peers for p in FP32_PEERS)
        out += ["Median ms of Ember (p25-p75 in brackets) and peer/Ember ratios of medians"
                + (" (best fp32 peer: the fastest of ORT, OpenVINO and CTranslate2 fp32 in "
                   "that cell)" if best else "") + ":", "",
                "| cell | reps | Ember fp32 ms | Ember int8 ms | Ember bf16 ms | "
                + ("best fp32 peer / Ember | " if best else "")
                + " | ".join(f"{p} / Ember" for p in peers) + " |",
                "|---|---:|---:|---:|---:|" + "---:|" * (len(peers) + best)]
        for cell in _cells(run, model):
            row = [f"{cell[0]}x{cell[1]}"]
            reps = [idx[(model, e) + cell]["reps"] for e in engines if (model, e) + cell in idx]
            row.append(str(min(reps)) if reps else "-")
            for e in ("ember_fp32", "ember_int8", "ember_bf16"):
                r = idx.get((model, e) + cell)
                row.append(f"{r['median_ms']:.2f} ({r['p25_ms']:.2f}-{r['p75_ms']:.2f})"
                           if r else "-")
            if best:
                row.append(fmt(best_fp32_peer(idx, model, cell)[1]))
            for p in peers:
                row.append(fmt(ratio(idx, model, p, cell)))
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
