"""Ember side by side with ONNX Runtime, PyTorch, CTranslate2 and OpenVINO (issues #5, #19):
same token ids, same thread count, interleaved repetitions, medians. Run through
bench/compare/run.sh, which prepares the Python environment; see docs/benchmarks.md ("Rerun")
for the commands.

Per model: prepare every engine's form of the model (prepare.py, cached), check every
engine's last hidden state against PyTorch fp32 on one cell (an engine that disagrees is not
timed), measure how close each engine's bf16 and int8 embeddings are to its own fp32 ones
(--accuracy-cells), then per grid cell: warm-up runs of every engine, then repetitions in which
every engine runs once, in rotating order (wall and CPU time of each run). After bert-base's
8x128 cell, the machine's measured peaks (bench_peak_probe) and the sgemm peak
(bench_gemm_bench); after each model with real weights, the VADER sentiment probe of Ember
fp32 against Ember bf16 and int8 (bench_prune_quality). Writes JSON + CSV of every
(model, engine, cell) and docs/benchmarks.md (report.py).
"""

import argparse
import csv
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import prepare
import report

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ALL_ENGINES = ["ember_fp32", "ember_int8", "ember_bf16", "ort_fp32", "ort_int8", "torch_fp32",
               "torch_int8", "ct2_fp32", "ct2_int8", "ov_fp32", "ov_bf16"]
# Another Ember binary (--ember-base), for A/B runs of a change against the binary before it,
# alternated cell by cell with everything else; not in the default engine list.
BASE_ENGINES = ["ember_base_fp32", "ember_base_int8"]
# Issue #19's peers; PyTorch (torch_fp32, torch_int8) is not among its targets and only adds
# time, so it runs when asked for (its fp32 model is the correctness reference either way).
DEFAULT_ENGINES = [e for e in ALL_ENGINES if not e.startswith("torch")]
DEFAULT_MODELS = ["all-MiniLM-L6-v2", "bert-base-uncased-random", "all-mpnet-base-v2"]
# The sentiment probe's sentences (scripts/fetch_data.sh), as tests/quant_accuracy uses them.
PROBE_DATA = "vader/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
BATCHES = [1, 2, 4, 8]
LENGTHS = [8, 16, 32, 64, 128, 256, 512]
# Assumed throughput (GFLOP/s) for the up-front duration estimate only; replaced by measured
# times once a model's check cell has run.
PRIOR_GFLOPS = {"fp32": 250.0, "int8": 400.0, "bf16": 400.0, "torch_fp32": 150.0,
                "torch_int8": 180.0}


def log(*args):
    print("[compare]", *args, file=sys.stderr, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ember", default=os.environ.get("EMBER", str(REPO / "build/src/cli/ember")),
                   help="the ember binary (default $EMBER or build/src/cli/ember)")
    p.add_argument("--ember-base", default=None,
                   help="a second ember binary, run as engines ember_base_fp32 / ember_base_int8")
    p.add_argument("--gemm-bench", default=None,
                   help="bench_gemm_bench for the sgemm peak (default: next to --ember)")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help="model cache names or directories, comma-separated "
                        "(also: distilbert-base-uncased-random)")
    p.add_argument("--engines", default=",".join(DEFAULT_ENGINES),
                   help=f"comma-separated, of {ALL_ENGINES + BASE_ENGINES} (default: all but "
                        "PyTorch's)")
    p.add_argument("--grid", default="", help="cells BxL, e.g. 1x16,1x128 (default: full grid)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1, help="untimed runs per engine and cell")
    p.add_argument("--reps", type=int, default=11, help="most repetitions per cell")
    p.add_argument("--min-reps", type=int, default=3, help="fewest repetitions per cell")
    p.add_argument("--cell-seconds", type=float, default=4.0,
                   help="time target per cell: repetitions = this / (one repetition's cost, "
                        "from the warm-up), clamped to [--min-reps, --reps]")
    p.add_argument("--settle-ms", type=float, default=5.0,
                   help="pause after each engine's run, once the machine is idle (below)")
    p.add_argument("--idle-wait-ms", type=float, default=250.0,
                   help="after each run, wait (at most this long) until no thread but the "
                        "harness is runnable, so that no engine's idle-spinning threads run "
                        "into the next engine's time (0: do not wait)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--check-cell", default="2x16", help="cell of the correctness check")
    p.add_argument("--accuracy-cells", default="2x16,8x128",
                   help="cells on which each engine's bf16 and int8 outputs are compared with "
                        "its own fp32 ones (per token and mean-pooled embeddings)")
    p.add_argument("--peak-probe", default=None,
                   help="bench_peak_probe for the machine's fp32/bf16/int8 peaks (default: "
                        "next to --ember's bench/ directory)")
    p.add_argument("--no-peak", action="store_true", help="skip the peak probe")
    p.add_argument("--quality-bench", default=None,
                   help="bench_prune_quality for the sentiment probe (default: as --peak-probe)")
    p.add_argument("--probe-data", default=str(Path(os.environ.get(
        "EMBER_DATA_DIR", Path.home() / ".cache/ember/data")) / PROBE_DATA),
        help="id<TAB>rating<TAB>text sentences of the sentiment probe (scripts/fetch_data.sh)")
    p.add_argument("--probe-sample", type=int, default=6000,
                   help="sentences of the sentiment probe (seeded sample)")
    p.add_argument("--probe-folds", type=int, default=10,
                   help="k-fold cross-validation of the sentiment probe over every sampled "
                        "sentence (0: one 70/30 split)")
    p.add_argument("--probe-models", default="",
                   help="models whose sentiment probe runs (default: every model whose name does "
                        "not say 'random': a probe on random weights means nothing)")
    p.add_argument("--no-probe", action="store_true", help="skip the sentiment probe")
    p.add_argument("--work", default=os.environ.get(
        "EMBER_COMPARE_WORK", str(Path.home() / ".cache/ember/compare")),
        help="prepared models (ONNX, CTranslate2, Ember int8) are cached here")
    p.add_argument("--out", default=str(
        REPO / f"bench/results/{datetime.date.today().isoformat()}-compare"),
        help="writes OUT.json and OUT.csv (default bench/results/DATE-compare)")
    p.add_argument("--markdown", default=str(REPO / "docs/benchmarks.md"),
                   help="the generated report ('' for none)")
    p.add_argument("--ember-env", action="append", default=[], metavar="KEY=VALUE",
                   help="environment of the ember processes, e.g. OMP_WAIT_POLICY=passive "
                        "(repeatable; default: none, Ember as shipped)")
    p.add_argument("--note", action="append", default=[],
                   help="a paragraph for the report's Notes section (repeatable)")
    p.add_argument("--report-only", metavar="JSON",
                   help="only rewrite --markdown from the JSON of an earlier run")
    p.add_argument("--profile", metavar="JSON",
                   help="profile_cells.py's JSON: the report explains the missed targets with it")
    p.add_argument("--no-gemm", action="store_true", help="skip the sgemm peak measurement")
    p.add_argument("--estimate-only", action="store_true",
                   help="print the expected duration and exit")
    return p.parse_args(argv)


def parse_grid(text):
    if not text:
        return [(b, l) for b in BATCHES for l in LENGTHS]
    cells = []
    for item in text.split(","):
        b, _, l = item.partition("x")
        if not (b.isdigit() and l.isdigit() and int(b) > 0 and int(l) > 2):
            sys.exit(f"--grid: '{item}' is not BATCHxLENGTH with LENGTH >= 3")
        cells.append((int(b), int(l)))
    return cells


def model_dir(name):
    if Path(name).is_dir():
        return Path(name).resolve()
    cache = Path(os.environ.get("EMBER_MODEL_CACHE",
                                Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                                / "ember/models"))
    d = cache / name
    if not d.is_dir():
        sys.exit(f"model '{name}' not found in {cache} (scripts/fetch_models.sh, "
                 "scripts/make_random_model.sh)")
    return d


def special_ids(mdir):
    """The ids the tokenizer puts first and last: its post-processor's cls and sep (MPNet: <s>
    and </s>), else [CLS] and [SEP] of the vocabulary (BERT vocabularies: 101, 102)."""
    tok = json.loads((mdir / "tokenizer.json").read_text())
    post = tok.get("post_processor") or {}
    if isinstance(post.get("cls"), list) and isinstance(post.get("sep"), list):
        return post["cls"][1], post["sep"][1]
    vocab = tok["model"]["vocab"]
    if isinstance(vocab, dict) and "[CLS]" in vocab:
        return vocab["[CLS]"], vocab["[SEP]"]
    return 0, 2  # <s>, </s> of RoBERTa-style vocabularies


def cell_ids(mdir, vocab, batch, length, seed):
    """[CLS] + uniform random ids from [1000, vocab) + [SEP], exactly `length` per sequence,
    as `ember bench` makes them (ids below 1000 are special/[unused] in BERT vocabularies);
    seeded per cell so every engine and every run sees the same ids."""
    cls, sep = special_ids(mdir)
    rng = np.random.default_rng([seed, batch, length])
    ids = rng.integers(1000, vocab, size=(batch, length), dtype=np.int64)
    ids[:, 0] = cls
    ids[:, -1] = sep
    return ids


def prior_ms(engine, cfg, batch, length):
    kind = engine if engine.startswith("torch") else engine.rsplit("_", 1)[1]
    return report.forward_gflop(cfg, batch, length) / PRIOR_GFLOPS[kind] * 1e3 + 0.3


def plan_reps(rep_ms, args):
    """Repetitions for a cell whose one repetition (every engine once) costs rep_ms."""
    return int(max(args.min_reps, min(args.reps, args.cell_seconds * 1e3 // max(rep_ms, 1e-3))))


def estimate_seconds(cfg, engines, cells, args, ms_of=None):
    total = 0.0
    for b, l in cells:
        rep = sum((ms_of or prior_ms)(e, cfg, b, l) + args.settle_ms for e in engines)
        total += rep * (args.warmup + plan_reps(rep, args)) / 1e3
    return total


def _cos_rows(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)


def probe_models(models, args):
    """The models whose sentiment probe runs."""
    if args.no_probe:
        return []
    given = [x for x in args.probe_models.split(",") if x]
    return [m for m in models if (m in given if given else "random" not in m)]


def probe_seconds(cfg, wanted, args):
    """Expected seconds of one model's sentiment probe: Ember fp32 embeds the sentences once per
    variant (bench_prune_quality compares the base with each in turn), each variant once; ~28
    tokens per movie-review sentence."""
    variants = [d for d in ("bf16", "int8") if f"ember_{d}" in wanted]
    if not variants:
        return 0.0
    gflop = report.forward_gflop(cfg, 1, 28) * args.probe_sample
    return sum(gflop / PRIOR_GFLOPS["fp32"] + gflop / PRIOR_GFLOPS[d] for d in variants)


def cosine_stats(ref, out):
    a = ref.reshape(-1, ref.shape[-1]).astype(np.float64)
    b = out.reshape(-1, out.shape[-1]).astype(np.float64)
    cos = _cos_rows(a, b)
    return {"cos_min": float(cos.min()), "cos_mean": float(cos.mean()),
            "max_abs_diff": float(np.abs(a - b).max())}


def embedding_stats(ref, out):
    """cosine_stats per token, plus the lowest cosine of the mean-pooled embeddings (one per
    sequence: the sentence embedding of the models here, which all pool by the mean)."""
    stats = cosine_stats(ref, out)
    a, b = ref.astype(np.float64).mean(1), out.astype(np.float64).mean(1)
    stats["pooled_cos_min"] = float(_cos_rows(a, b).min())
    return stats


def machine_info():
    info = {"cpu": "unknown", "cores": os.cpu_count(), "flags": []}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            v = v.strip()
            if k == "Model name":
                info["cpu"] = v
            elif k in ("CPU(s)", "Thread(s) per core", "Core(s) per socket", "Socket(s)",
                       "L2 cache", "L3 cache", "Hypervisor vendor", "CPU family", "Model"):
                info[k] = v
            elif k == "Flags":
                want = ("avx", "fma", "f16c", "vnni", "amx", "sse4_2", "bf16")
                info["flags"] = sorted(f for f in v.split() if any(w in f for w in want))
    except OSError:
        pass
    info["kernel"] = platform.release()
    return info


def versions(ember):
    v = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("onnxruntime", "onnx", "torch", "transformers", "ctranslate2", "openvino"):
        try:
            v[mod] = __import__(mod).__version__
        except Exception as e:  # noqa: BLE001 (a missing peer is reported, not fatal)
            v[mod] = f"unavailable ({e.__class__.__name__})"
    r = subprocess.run([ember, "--version"], capture_output=True, text=True)
    v["ember"] = r.stdout.strip()
    r = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                       capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    v["ember_commit"] = r.stdout.strip() + (" (working tree modified)" if dirty else "")
    return v


def load_engines(name, mdir, work, wanted, args, notes):
    """Every wanted engine for one model, plus the PyTorch fp32 reference."""
    import engines as eng
    cfg = prepare.model_config(mdir)
    types = prepare.uses_token_types(cfg)
    out = {}
    ref_model = prepare.load_torch_model(mdir, work)
    reference = eng.TorchEngine(ref_model, args.threads, "fp32", types)
    for e in wanted:
        try:
            if e == "ember_fp32":
                out[e] = eng.EmberEngine(args.ember, mdir, args.threads, "fp32", work / "ember",
                                         args.ember_env)
            elif e == "ember_int8":
                qdir, why = prepare.quantize_ember(args.ember, str(mdir), work)
                if qdir is None:
                    notes.append(f"ember_int8 skipped: {why}")
                    continue
                out[e] = eng.EmberEngine(args.ember, qdir, args.threads, "int8", work / "ember",
                                         args.ember_env)
            elif e == "ember_bf16":
                # bf16 where the CPU has avx512_bf16; elsewhere Ember runs fp32 and says so.
                out[e] = eng.EmberEngine(args.ember, mdir, args.threads, "bf16", work / "ember",
                                         args.ember_env, ["--dtype", "bf16"])
                dtype = out[e].info.get("dtype")
                if dtype and dtype != "bf16":
                    notes.append(f"ember_bf16 runs {dtype} on this CPU: "
                                 f"{out[e].info.get('dtype_note', '')}")
            elif e == "ember_base_fp32":
                out[e] = eng.EmberEngine(args.ember_base, mdir, args.threads, "base_fp32",
                                         work / "ember_base", args.ember_env)
            elif e == "ember_base_int8":
                # The int8 directory of --ember (the format is the same for both binaries).
                qdir, why = prepare.quantize_ember(args.ember, str(mdir), work)
                if qdir is None:
                    notes.append(f"ember_base_int8 skipped: {why}")
                    continue
                out[e] = eng.EmberEngine(args.ember_base, qdir, args.threads, "base_int8",
                                         work / "ember_base", args.ember_env)
            elif e == "ort_fp32":
                out[e] = eng.OrtEngine(prepare.optimize_onnx(mdir, work), args.threads, "fp32")
            elif e == "ort_int8":
                out[e] = eng.OrtEngine(prepare.quantize_onnx(mdir, work), args.threads, "int8")
            elif e in ("ov_fp32", "ov_bf16"):
                out[e] = eng.OvEngine(prepare.export_onnx(mdir, work), args.threads,
                                      e.split("_")[1])
            elif e == "torch_fp32":
                out[e] = reference
            elif e == "torch_int8":
                out[e] = eng.TorchEngine(prepare.load_torch_model(mdir, work), args.threads,
                                         "int8", types)
            elif e in ("ct2_fp32", "ct2_int8"):
                if cfg["model_type"] not in CT2_MODEL_TYPES:
                    notes.append(f"{e} n/a: CTranslate2 {ct2_version()} has no converter for "
                                 f"model type '{cfg['model_type']}'")
                    continue
                out[e] = eng.Ct2Engine(prepare.convert_ct2(mdir, work), args.threads,
                                       e.split("_")[1])
        except Exception as ex:  # noqa: BLE001 (one peer failing must not stop the others)
            notes.append(f"{e} not measured: {ex.__class__.__name__}: {str(ex)[:300]}")
            log(notes[-1])
    return out, reference


# Encoder model types CTranslate2's TransformersConverter has a loader for (its BertLoader,
# DistilBertLoader, XLMRobertaLoader family); MPNet, for one, is not among them.
CT2_MODEL_TYPES = ("bert", "distilbert", "roberta", "xlm-roberta", "camembert")


def ct2_version():
    try:
        return __import__("ctranslate2").__version__
    except ImportError:
        return "(not installed)"


def check(engines, reference, ids, notes):
    """Every engine's last hidden state against PyTorch fp32 on one cell. fp32 and bf16 engines
    must reach cosine >= 0.99 on every token, or they are dropped before any timing (a wrong
    graph, not a slow one). int8 engines should reach >= 0.9 on average; one that does not is
    still timed (its speed is its runtime's int8 path on this model) and flagged, so that the
    report can say its ratios are against an inaccurate peer (ORT's per-tensor activation
    quantization on MPNet, for one)."""
    reference.prepare(ids)
    ref = reference.hidden()
    result = {}
    for name, e in list(engines.items()):
        try:
            e.prepare(ids)
            stats = cosine_stats(ref, e.hidden())
        except Exception as ex:  # noqa: BLE001 (one engine failing must not stop the others)
            notes.append(f"{name} failed in the correctness check ({ex.__class__.__name__}: "
                         f"{str(ex)[:300]}); not timed")
            log(notes[-1])
            del engines[name]
            continue
        result[name] = stats
        exact = e.dtype.endswith(("fp32", "bf16"))
        ok = stats["cos_min"] >= 0.99 if exact else stats["cos_mean"] >= 0.9
        stats["ok"] = ok
        stats["timed"] = ok or not exact
        log(f"check {name}: cos min {stats['cos_min']:.5f} mean {stats['cos_mean']:.5f}"
            f" {'ok' if ok else 'FAILED (not timed)' if exact else 'INACCURATE (timed)'}")
        what = (f"cosine per token against PyTorch fp32: min {stats['cos_min']:.4f}, "
                f"mean {stats['cos_mean']:.4f}")
        if not ok and exact:
            notes.append(f"{name} failed the correctness check ({what}); not timed")
            del engines[name]
        elif not ok:
            notes.append(f"{name} is below the int8 check's mean cosine 0.9 ({what}); timed, "
                         "but its ratios are against an inaccurate engine")
    return result


# Each compressed engine against the fp32 engine of the same runtime: Ember's bf16 and int8
# against Ember fp32 (issue #19's accuracy targets), the peers' for comparison.
ACCURACY_PAIRS = [("ember_bf16", "ember_fp32"), ("ember_int8", "ember_fp32"),
                  ("ov_bf16", "ov_fp32"), ("ort_int8", "ort_fp32"), ("ct2_int8", "ct2_fp32"),
                  ("torch_int8", "torch_fp32")]


def accuracy(engines, mdir, cfg, cells, args):
    """{engine: {"base", "cells": {BxL: embedding_stats}, lowest cosines over the cells}} of
    every compressed engine against its fp32 twin, on the same token ids."""
    out = {}
    hidden = {}
    for b, l in cells:
        if l > cfg["max_positions"]:
            continue
        ids = cell_ids(mdir, cfg["vocab"], b, l, args.seed)
        for name in {n for pair in ACCURACY_PAIRS for n in pair if n in engines}:
            try:
                engines[name].prepare(ids)
                hidden[name] = engines[name].hidden()
            except Exception as ex:  # noqa: BLE001 (reported; the run goes on)
                log(f"accuracy: {name} failed at {b}x{l}: {ex.__class__.__name__}: {ex}")
        for e, base in ACCURACY_PAIRS:
            if e in hidden and base in hidden:
                st = embedding_stats(hidden[base], hidden[e])
                r = out.setdefault(e, {"base": base, "cells": {}})
                r["cells"][f"{b}x{l}"] = st
                for k in ("cos_min", "pooled_cos_min"):
                    r[k] = min(r.get(k, 1.0), st[k])
                log(f"accuracy {e} vs {base} at {b}x{l}: token cos min {st['cos_min']:.6f}, "
                    f"pooled cos min {st['pooled_cos_min']:.6f}")
        hidden.clear()
    return out


def runnable_threads():
    """Threads runnable on this machine right now (/proc/loadavg's 4th field; this one
    included), or None where that file does not exist."""
    try:
        with open("/proc/loadavg") as f:
            return int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def wait_until_idle(max_ms):
    """Waits until only the harness itself is runnable in 3 samples in a row, 1 ms apart, or
    max_ms. ONNX Runtime's intra-op threads keep spinning for 40-50 ms after a run and
    OpenMP's for a while too; without this they take a core from whichever engine runs next.
    Returns the ms waited (what the previous engine left running)."""
    t0 = time.perf_counter()
    quiet = 0
    while (time.perf_counter() - t0) * 1e3 < max_ms:
        n = runnable_threads()
        if n is None:
            break
        quiet = quiet + 1 if n <= 1 else 0
        if quiet >= 3:
            break
        time.sleep(0.001)
    return (time.perf_counter() - t0) * 1e3


def settle(args, name, waits):
    if args.idle_wait_ms > 0:
        waits.setdefault(name, []).append(wait_until_idle(args.idle_wait_ms))
    time.sleep(args.settle_ms / 1e3)


def time_cell(engines, ids, args, rep_offset, waits, failed):
    """{engine: [ms]}, {engine: [CPU ms]} of one cell. An engine that fails in this cell (an
    exception from its run) is left out of the cell, its error in failed[engine], and the
    others go on: one engine's limit must not end a long run."""
    names = list(engines)

    def attempt(n, fn):
        try:
            return fn()
        except Exception as ex:  # noqa: BLE001 (reported in the notes, the run goes on)
            failed[n] = f"{ex.__class__.__name__}: {str(ex)[:300]}"
            log(f"{n} failed in this cell: {failed[n]}")
            names.remove(n)
            return None

    for n in list(names):
        attempt(n, lambda: engines[n].prepare(ids))
    warm = {}
    for _ in range(args.warmup):
        for n in list(names):
            t = attempt(n, engines[n].run)
            if t is not None:
                warm[n] = t
            settle(args, n, waits)
    reps = plan_reps(sum(warm.get(n, 0.0) for n in names) + args.settle_ms * len(names), args)
    ms = {n: [] for n in names}
    cpu = {n: [] for n in names}
    for r in range(reps):
        k = (r + rep_offset) % max(len(names), 1)
        for n in names[k:] + names[:k]:  # rotating order: no engine always first or last
            t = attempt(n, engines[n].run)
            if t is not None:
                ms[n].append(t)
                cpu[n].append(engines[n].last_cpu_ms)
            settle(args, n, waits)
    return {n: v for n, v in ms.items() if n in names}, cpu


def summarize(values, cpu=None):
    v = np.asarray(values)
    s = {"reps": len(v), "median_ms": float(np.median(v)),
         "p25_ms": float(np.percentile(v, 25)), "p75_ms": float(np.percentile(v, 75)),
         "min_ms": float(v.min()), "max_ms": float(v.max()), "ms": [round(x, 4) for x in v]}
    if cpu and all(c is not None for c in cpu):
        s["median_cpu_ms"] = float(np.median(cpu))
        s["cpu_ms"] = [round(x, 4) for x in cpu]
    return s


def bench_path(args, given, name):
    """A bench/ binary: `given`, else the one in the build tree of --ember, else (an --ember
    copied out of its tree) the one in this checkout's build/."""
    if given:
        return given
    beside = Path(args.ember).parent.parent.parent / "bench" / name
    return str(beside if beside.is_file() else REPO / "build" / "bench" / name)


def gemm_bench_path(args):
    return bench_path(args, args.gemm_bench, "bench_gemm_bench")


def peak_probe(bench, threads):
    """The machine's fp32 / bf16 / int8 instruction-throughput peaks (bench/peak_probe.cc) on
    1..threads threads, per wall second and per second of each thread's CPU time."""
    if not Path(bench).is_file():
        return {"error": f"{bench} not built (cmake --build <dir> --target bench_peak_probe)"}
    log("instruction-throughput peaks (bench_peak_probe)")
    out = Path(bench).parent / "compare_peaks.json"
    cmd = [bench, str(out), "--threads", str(threads), "--seconds", "0.3", "--repeats", "5"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr[-300:], "command": " ".join(cmd)}
    return {"command": " ".join(cmd), **json.loads(out.read_text())}


def sentiment_probe(bench, mdir, variants, args):
    """bench_prune_quality: Ember fp32 (the model as stored) against each of `variants`
    ({engine: model dir}) on the probe's sentences: sentence-embedding cosines and the accuracy
    of a logistic-regression sentiment probe trained on each model's own embeddings
    (cross-validated over every sentence with --probe-folds), and of Ember fp32's probe applied
    to each variant's embeddings."""
    if not Path(bench).is_file():
        return {"error": f"{bench} not built (cmake --build <dir> --target bench_prune_quality)"}
    if not Path(args.probe_data).is_file():
        return {"error": f"{args.probe_data} not found (scripts/fetch_data.sh)"}
    out = Path(args.work) / f"probe_{mdir.name}.json"
    cmd = [bench, str(mdir), str(out), "--data", args.probe_data, "--sample",
           str(args.probe_sample), "--folds", str(args.probe_folds), "--threads", str(args.threads),
           *map(str, variants.values())]
    log(f"sentiment probe: {' '.join(cmd)}")
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr[-300:], "command": " ".join(cmd)}
    data = json.loads(out.read_text())
    by_dir = dict(zip(map(str, variants.values()), variants))
    res = {"command": " ".join(cmd), "seconds": round(time.time() - t0, 1),
           "sentences": data["sentences"], "data": args.probe_data, "engines": {}}
    for m in data["models"]:
        res["engines"][by_dir[m["model"]]] = m
        log(f"sentiment probe {by_dir[m['model']]}: accuracy {m['probe_accuracy']:.4f} "
            f"(fp32 {m['probe_accuracy_base']:.4f}), embedding cosine min {m['min_cosine']:.6f}")
    return res


def gemm_peak(bench, threads):
    """oneDNN sgemm on bert-base's linear shapes at M = 1024 (8 x 128 tokens)."""
    if not Path(bench).is_file():
        return {"error": f"{bench} not built (cmake --build <dir> --target bench_gemm_bench)"}
    log("sgemm peak on bert-base shapes (bench_gemm_bench)")
    out = Path(bench).parent / "compare_gemm.json"
    cmd = [bench, str(out), "--m", "1024", "--libs", "onednn", "--reps", "3", "--min-ms", "40",
           "--threads", str(threads)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr[-300:], "command": " ".join(cmd)}
    data = json.loads(out.read_text())
    shapes = {(x["n"], x["k"]): x["gflops_median"] for x in data["results"]}
    return {"command": " ".join(cmd), "gflops": {f"{n}x{k}": g for (n, k), g in shapes.items()}}


def profile_of(args):
    return json.loads(Path(args.profile).read_text()) if args.profile else None


def main(argv):
    args = parse_args(argv)
    import torch  # before any engine: inter-op threads can only be set once
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    if args.report_only:
        run = json.loads(Path(args.report_only).read_text())
        report.write(args.markdown, report.markdown(run, profile_of(args)))
        print(report.summary(run))
        return 0
    cells = parse_grid(args.grid)
    models = [m for m in args.models.split(",") if m]
    wanted = [e for e in args.engines.split(",") if e]
    bad = [e for e in wanted if e not in ALL_ENGINES + BASE_ENGINES]
    if bad:
        sys.exit(f"--engines: unknown {bad}; known: {ALL_ENGINES + BASE_ENGINES}")
    if any(e in BASE_ENGINES for e in wanted) and not (
            args.ember_base and Path(args.ember_base).is_file()):
        sys.exit("--engines ember_base_*: give the other binary with --ember-base PATH")
    if not Path(args.ember).is_file():
        sys.exit(f"--ember: {args.ember} does not exist (build it: cmake --build <dir> "
                 "--target ember)")
    b, _, l = args.check_cell.partition("x")
    check_cell = (int(b), int(l))

    est = probe = 0.0
    for m in models:
        cfg = prepare.model_config(model_dir(m))
        est += estimate_seconds(cfg, wanted, cells, args)
        if m in probe_models(models, args):
            probe += probe_seconds(cfg, wanted, args)
    log(f"{len(models)} models x {len(cells)} cells x {len(wanted)} engines; expected duration "
        f"~{est / 60:.1f} min ({est:.0f} s) of timing, ~{probe / 60:.1f} min of sentiment probes"
        " (+ ~1-3 min per model for loading and, on the first run, model preparation)")
    if args.estimate_only:
        return 0

    t_start = time.time()
    run = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "command": "bench/compare/run.sh " + " ".join(shlex.quote(a) for a in argv),
           "settings": {"threads": args.threads, "warmup": args.warmup, "reps": args.reps,
                        "min_reps": args.min_reps, "cell_seconds": args.cell_seconds,
                        "settle_ms": args.settle_ms, "idle_wait_ms": args.idle_wait_ms,
                        "seed": args.seed,
                        "check_cell": args.check_cell, "accuracy_cells": args.accuracy_cells,
                        "probe_sample": args.probe_sample,
                        "ember_env": args.ember_env, "output": "last hidden state [B, L, H]"},
           "machine": machine_info(), "load_before": os.getloadavg(),
           "versions": versions(args.ember), "notes": args.note, "models": {}, "results": []}
    rep_offset = 0
    waits = {}  # engine -> ms the machine stayed busy after each of its runs
    for m in models:
        mdir = model_dir(m)
        work = Path(args.work) / mdir.name
        work.mkdir(parents=True, exist_ok=True)
        cfg = prepare.model_config(mdir)
        notes = []
        engines, reference = load_engines(m, mdir, work, wanted, args, notes)
        info = {"dir": str(mdir), "config": cfg, "notes": notes,
                "fusions": prepare.fusion_report(work) if (work / "onnx/OPT_DONE").exists()
                else {}}
        log(f"{m}: ONNX fused operators {info['fusions']}")
        fused = info["fusions"].get("optimized", {})
        if fused and (fused.get("Attention", 0) < cfg["layers"]
                      or fused.get("SkipLayerNormalization", 0) < 2 * cfg["layers"]):
            notes.append(f"ONNX Runtime's optimizer fused less than every layer: {fused}")
            log(notes[-1])
        ids = cell_ids(mdir, cfg["vocab"], *check_cell, args.seed)
        info["check"] = check(engines, reference, ids, notes)
        info["accuracy"] = accuracy(engines, mdir, cfg, parse_grid(args.accuracy_cells), args)
        if "ember_fp32" in engines:
            info["ember"] = engines["ember_fp32"].info
        # Refine the estimate with this model's check-cell times.
        check_ms = {n: min(e.run() for _ in range(2)) for n, e in engines.items()}
        g0 = report.forward_gflop(cfg, *check_cell)
        ms_of = lambda e, c, bb, ll: check_ms[e] * report.forward_gflop(c, bb, ll) / g0  # noqa: E731
        log(f"{m}: expected ~{estimate_seconds(cfg, list(engines), cells, args, ms_of) / 60:.1f}"
            " min for this model")
        run["models"][m] = info
        for (bb, ll) in cells:
            if ll > cfg["max_positions"]:
                notes.append(f"cell {bb}x{ll} skipped: beyond {cfg['max_positions']} positions")
                continue
            failed = {}
            ms, cpu = time_cell(engines, cell_ids(mdir, cfg["vocab"], bb, ll, args.seed), args,
                                rep_offset, waits, failed)
            notes += [f"{n} failed at {bb}x{ll}, not timed there: {why}"
                      for n, why in failed.items()]
            rep_offset += 1
            line = []
            for n, v in ms.items():
                s = summarize(v, cpu[n])
                run["results"].append({"model": m, "engine": n, "batch": bb, "length": ll, **s})
                line.append(f"{n} {s['median_ms']:.2f}")
            log(f"{m} {bb}x{ll}: " + ", ".join(line)
                + f" (ms, median of {min(map(len, ms.values()), default=0)})")
            if (bb, ll) == (8, 128) and "bert-base" in m:
                # The peaks right after the cell they are compared with (same load).
                if not args.no_peak:
                    run["peaks"] = peak_probe(bench_path(args, args.peak_probe,
                                                         "bench_peak_probe"), args.threads)
                if not args.no_gemm:
                    run["gemm"] = gemm_peak(gemm_bench_path(args), args.threads)
        for e in engines.values():
            if e is not reference:
                e.close()
        reference.close()
        if m in probe_models(models, args):
            variants = {}
            for dtype in ("bf16", "int8"):
                if f"ember_{dtype}" in wanted:
                    qdir, why = prepare.quantize_ember(args.ember, str(mdir), work, dtype)
                    if qdir is None:
                        notes.append(f"sentiment probe of ember_{dtype} skipped: {why}")
                    else:
                        variants[f"ember_{dtype}"] = qdir
            if variants:
                info["probe"] = sentiment_probe(bench_path(args, args.quality_bench,
                                                           "bench_prune_quality"),
                                                mdir, variants, args)
        # What is measured so far (report.py reads it with --report-only), in case a later
        # model does not finish.
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(
            dict(run, partial=True, duration_s=round(time.time() - t_start, 1),
                 load_after=os.getloadavg()), indent=1))

    if not args.no_gemm and "gemm" not in run:
        run["gemm"] = gemm_peak(gemm_bench_path(args), args.threads)
    if not args.no_peak and "peaks" not in run:
        run["peaks"] = peak_probe(bench_path(args, args.peak_probe, "bench_peak_probe"),
                                  args.threads)
    run["load_after"] = os.getloadavg()
    run["duration_s"] = round(time.time() - t_start, 1)
    # How long the machine stayed busy after each engine's runs (its threads' idle spinning).
    run["busy_after_run_ms"] = {n: {"median": float(np.median(v)), "p90": float(np.percentile(v, 90)),
                                    "runs": len(v)} for n, v in waits.items()}
    if waits:
        log("machine busy after each engine's run, median (p90) ms: " + ", ".join(
            f"{n} {d['median']:.1f} ({d['p90']:.1f})" for n, d in run["busy_after_run_ms"].items()))

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(run, indent=1))
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        cols = ["model", "engine", "batch", "length", "reps", "median_ms", "p25_ms", "p75_ms",
                "min_ms", "max_ms"]
        w.writerow(cols)
        for r in run["results"]:
            w.writerow([r[c] if not isinstance(r[c], float) else f"{r[c]:.4f}" for c in cols])
    log(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.csv')} "
        f"({run['duration_s'] / 60:.1f} min)")
    if args.markdown:
        report.write(args.markdown, report.markdown(run, profile_of(args)))
        log(f"wrote {args.markdown}")
    print(report.summary(run))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
