"""Where the time goes in the cells where Ember misses an issue #19 speed target: Ember and the
peer of that target timed in one run, interleaved repetition by repetition (as compare.py
does), each with its own per-op profiler on, and every op put into one class (a Linear by its
role and shape, attention, add + LayerNorm, embeddings, ...):

  Ember         `ember bench --serve-stdin` with EMBER_PROFILE=1; after each run the
                `profile` request returns that run's time per op label and clears it
  OpenVINO      PERF_COUNT; after each run `infer_request.profiling_info`: per node real_time,
                node type and exec_type (the kernel it picked: brgemm_avx512_bf16, ...)
  ONNX Runtime  SessionOptions.enable_profiling; the JSON's node events split by run

Per class the median over the quieter half of the repetitions (see summarize()) of each
engine's ms, and the GFLOP of the GEMM and
attention classes, so that report_profile.py can set their GFLOP/s against the measured
instruction peaks (bench_peak_probe, run here too). "outside ops" is the run's wall time minus
the time of its profiled ops (dispatch, the peer's Python call, what no op label covers).

    .venv-compare/bin/python bench/compare/profile_cells.py \\
        --out bench/results/2026-12-07-profile-cells.json [--cells MODEL:DTYPE:BxL,...]

The models must be prepared (bench/compare/run.sh does it once per model); this script reuses
prepare.py's cached ONNX files and `ember quantize` directories."""

import argparse
import json
import os
import re
import shlex
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402 (this directory's harness: ids, machine, versions, idle wait)
import engines as eng  # noqa: E402
import prepare  # noqa: E402

# The cells issue #19 misses that the profile explains: model, Ember dtype, batch x length.
# The peer is the target's: OpenVINO bf16 for bf16, OpenVINO fp32 for fp32 (the fastest fp32
# peer in these cells), ONNX Runtime int8 for int8.
DEFAULT_CELLS = ("all-MiniLM-L6-v2:bf16:8x128,all-MiniLM-L6-v2:bf16:1x128,"
                 "all-MiniLM-L6-v2:bf16:8x64,all-MiniLM-L6-v2:fp32:4x128,"
                 "bert-base-uncased-random:fp32:1x128,bert-base-uncased-random:fp32:8x128,"
                 "bert-base-uncased-random:int8:8x128,bert-base-uncased-random:int8:1x8,"
                 "all-mpnet-base-v2:bf16:4x256")
PEER = {"bf16": "ov_bf16", "fp32": "ov_fp32", "int8": "ort_int8"}
TARGET = {"bf16": 1.2, "fp32": 1.2, "int8": 1.5}

QKV, OUT, UP, DOWN = "GEMM QKV", "GEMM attention output", "GEMM FFN up (+GELU)", "GEMM FFN down"
ATTN, QKV_ATTN = "attention (QK^T, softmax, PV)", "GEMM QKV + attention"
NORM, EMBED = "add + LayerNorm", "embeddings"
LAYOUT, OTHER, OUTSIDE = "quantize / layout / convert", "other ops", "outside ops"
GEMMS = (QKV, OUT, UP, DOWN)


def gemm_role(k, n, cfg):
    """The Linear of a layer that multiplies K inputs into N outputs, or None."""
    h, i = cfg["hidden"], cfg["intermediate"]
    return {(h, 3 * h): QKV, (h, h): OUT, (h, i): UP, (i, h): DOWN}.get((k, n))


def class_gflop(cfg, batch, length):
    """GFLOP of each GEMM class and of attention's two matmuls, for the whole forward."""
    t, h, i, n = batch * length, cfg["hidden"], cfg["intermediate"], cfg["layers"]
    g = {QKV: 2.0 * t * h * 3 * h, OUT: 2.0 * t * h * h, UP: 2.0 * t * h * i,
         DOWN: 2.0 * t * i * h, ATTN: 4.0 * batch * length * length * h}
    g = {k: v * n / 1e9 for k, v in g.items()}
    g[QKV_ATTN] = g[QKV] + g[ATTN]
    return g


LINEAR = re.compile(r"^linear\S* \d+x(\d+)->(\d+)")


def ember_class(label, cfg):
    """Class of an EMBER_PROFILE label; None for labels that contain others ("forward", the
    model's "embed" around the backend's "embed rows") and for those inside another op's
    ("linear_int8: quantize x" inside its Linear's label)."""
    if label in ("forward", "embed") or ": " in label:
        return None
    m = LINEAR.match(label)
    if m:
        return gemm_role(int(m.group(1)), int(m.group(2)), cfg) or "GEMM other"
    if "attention" in label:
        return ATTN
    if "norm" in label:
        return NORM
    if label == "embed rows":
        return EMBED
    return OTHER


OV_ROLE = ((re.compile(r"/(query|key|value|q|k|v)/"), QKV),
           (re.compile(r"/attention/output/dense/|/attn/o/"), OUT),
           (re.compile(r"/intermediate/"), UP), (re.compile(r"/output/dense/"), DOWN))


def ov_class(name, node_type):
    if node_type == "FullyConnected":
        return next((c for rx, c in OV_ROLE if rx.search(name)), "GEMM other")
    if "/embeddings/" in name:
        return EMBED
    if node_type in ("MVN", "MulAdd") or "LayerNorm" in name or (
            node_type == "Add" and re.search(r"/(attention/)?output/Add$|/attention/Add$", name)):
        return NORM
    if node_type in ("Subgraph", "MatMul", "Softmax", "ScaledDotProductAttention"):
        return ATTN
    if node_type in ("Reorder", "Transpose", "Convert", "Reshape"):
        return LAYOUT
    return OTHER


def ort_class(op, name):
    """Class of an ONNX Runtime node (its weights are pre-packed initializers without a shape
    in the profile, so a MatMul's role comes from its name, as OpenVINO's)."""
    if op in ("QAttention", "Attention", "MultiHeadAttention"):
        return QKV_ATTN
    if op in ("DynamicQuantizeMatMul", "MatMulInteger", "MatMul", "MatMulIntegerToFloat",
              "FusedMatMul", "Gemm"):
        return next((c for rx, c in OV_ROLE if rx.search(name)), "GEMM other")
    if op in ("BiasGelu", "FastGelu", "Gelu"):
        return UP
    if "EmbedLayerNormalization" in op:
        return EMBED
    if "LayerNormalization" in op:
        return NORM
    if op in ("DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear", "Cast",
              "Transpose", "Reshape"):
        return LAYOUT
    return OTHER


class EmberProfiled:
    def __init__(self, ember, mdir, work, threads, dtype, cfg):
        args = ["--dtype", "bf16"] if dtype == "bf16" else []
        if dtype == "int8":
            qdir, why = prepare.quantize_ember(ember, str(mdir), work)
            if qdir is None:
                raise RuntimeError(why)
            mdir = qdir
        self.e = eng.EmberEngine(ember, mdir, threads, dtype, work / "ember-profile",
                                 ["EMBER_PROFILE=1"], args)
        self.cfg, self.name, self.kernels = cfg, f"ember_{dtype}", {}
        self.labels = []  # per run: {EMBER_PROFILE label: ms}

    def prepare(self, ids):
        self.e.prepare(ids)
        self.e._ask("profile")  # nothing before this cell counts
        self.labels = []

    def run(self):
        ms = self.e.run()
        ops = self.e._ask("profile")["ops"]
        self.labels.append({o["label"]: (o["ms"], o.get("cpu_ms", 0.0)) for o in ops})
        per, cpu = defaultdict(float), defaultdict(float)
        for o in ops:
            c = ember_class(o["label"], self.cfg)
            if c:
                per[c] += o["ms"]
                cpu[c] += o.get("cpu_ms", 0.0)
        return ms, self.e.last_cpu_ms, dict(per), dict(cpu)

    def close(self):
        self.e.close()


class OvProfiled:
    """OpenVINO's CPU plugin reports per node the mean over every inference since the model
    was compiled (whole microseconds), not the last one's time: each run's own time is the
    difference of the totals (mean x count) before and after it, within a microsecond per
    node and run. A fresh compile per cell keeps the counts small."""

    def __init__(self, path, threads, dtype):
        self.path, self.threads, self.dtype = path, threads, dtype
        self.name, self.kernels = f"ov_{dtype}", defaultdict(set)

    def prepare(self, ids):
        self.e = eng.OvEngine(self.path, self.threads, self.dtype, {"PERF_COUNT": True})
        self.e.prepare(ids)
        self.count, self.total = 0, {}

    def run(self):
        ms = self.e.run()
        self.count += 1
        per = defaultdict(float)
        for p in self.e.request.profiling_info:
            if p.status != p.Status.EXECUTED:
                continue
            key = (p.node_name, p.node_type)
            total = p.real_time.total_seconds() * 1e3 * self.count
            c = ov_class(p.node_name, p.node_type)
            per[c] += total - self.total.get(key, 0.0)
            self.total[key] = total
            self.kernels[c].add(f"{p.node_type}:{p.exec_type}")
        return ms, self.e.last_cpu_ms, dict(per)

    def close(self):
        pass


class OrtProfiled:
    """ONNX Runtime writes its profile only at end_profiling(), so each run's wall and CPU time
    are kept here and its ops are read from the JSON in finish()."""

    def __init__(self, path, threads, dtype, prefix):
        self.e = eng.OrtEngine(path, threads, dtype, profile_prefix=prefix)
        self.name, self.kernels = f"ort_{dtype}", defaultdict(set)
        self.runs = []

    def prepare(self, ids):
        self.e.prepare(ids)

    def run(self):
        ms = self.e.run()
        self.runs.append((ms, self.e.last_cpu_ms))
        return ms, self.e.last_cpu_ms, None

    def finish(self):
        """[{class: ms}] of every run so far, in order."""
        path = Path(self.e.sess.end_profiling())
        events = json.loads(path.read_text())
        path.unlink()
        spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                       if e.get("cat") == "Session" and e.get("name") == "model_run")
        out = [defaultdict(float) for _ in spans]
        for e in events:
            if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
                continue
            at = next((i for i, (a, b) in enumerate(spans) if a <= e["ts"] <= b), None)
            if at is None:
                continue
            c = ort_class(e["args"]["op_name"], e["name"])
            out[at][c] += e["dur"] / 1e3
            self.kernels[c].add(e["args"]["op_name"])
        return [dict(o) for o in out]

    def close(self):
        pass


def time_cell(pair, ids, args):
    """{engine: [(ms, cpu_ms, {class: ms} or None)]} of interleaved repetitions."""
    for e in pair:
        e.prepare(ids)
    for _ in range(args.warmup):
        for e in pair:
            e.run()
            compare.wait_until_idle(args.idle_wait_ms)
            time.sleep(args.settle_ms / 1e3)
    runs = {e.name: [] for e in pair}
    t0, r = time.perf_counter(), 0
    while r < args.min_reps or (r < args.reps and time.perf_counter() - t0 < args.cell_seconds):
        order = pair if r % 2 == 0 else pair[::-1]
        for e in order:
            runs[e.name].append(e.run())
            compare.wait_until_idle(args.idle_wait_ms)
            time.sleep(args.settle_ms / 1e3)
        r += 1
    return runs


def summarize(runs, cfg, batch, length):
    """Medians over the quieter half of the repetitions (the faster half by wall time): on a
    machine shared with other work a repetition that lost a core for a while is slower, and
    a per-op wall-time profile would put that wait in whichever op it hit. Every repetition's
    wall time stays in "ms". Ember's classes also have "cpu_ms": the process's CPU time while
    their ops ran (the work of every thread, without the time a thread waited for a core)."""
    ms = [r[0] for r in runs]
    kept = sorted(runs, key=lambda r: r[0])[:(len(runs) + 1) // 2]
    cpu = [r[1] for r in kept if r[1] is not None]
    classes = sorted({c for r in kept for c in r[2]})
    wall = statistics.median(r[0] for r in kept)
    gf = class_gflop(cfg, batch, length)
    out = {"reps": len(ms), "kept": len(kept), "median_ms": wall,
           "median_ms_all": statistics.median(ms), "ms": [round(x, 3) for x in ms],
           "median_cpu_ms": statistics.median(cpu) if cpu else None, "classes": {}}
    for c in classes:
        v = statistics.median(r[2].get(c, 0.0) for r in kept)
        out["classes"][c] = {"ms": v, "share": v / wall}
        if all(len(r) > 3 for r in kept):
            out["classes"][c]["cpu_ms"] = statistics.median(r[3].get(c, 0.0) for r in kept)
    outside = statistics.median(r[0] - sum(r[2].values()) for r in kept)
    out["classes"][OUTSIDE] = {"ms": outside, "share": outside / wall}
    for c, v in out["classes"].items():
        if c in gf:
            v["gflop"] = gf[c]
    return out


def parse_cells(text):
    out = []
    for item in filter(None, text.split(",")):
        model, dtype, cell = item.split(":")
        b, l = cell.split("x")
        out.append((model, dtype, int(b), int(l)))
    return out


def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ember", default=os.environ.get("EMBER",
                                                     str(compare.REPO / "build/src/cli/ember")))
    p.add_argument("--cells", default=DEFAULT_CELLS, help="MODEL:DTYPE:BxL,...")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--reps", type=int, default=15, help="most repetitions per cell")
    p.add_argument("--min-reps", type=int, default=9)
    p.add_argument("--cell-seconds", type=float, default=8.0)
    p.add_argument("--idle-wait-ms", type=float, default=250.0)
    p.add_argument("--settle-ms", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--peak-probe", default=None, help="bench_peak_probe (default: beside --ember)")
    p.add_argument("--work-root", default=os.environ.get(
        "EMBER_COMPARE_WORK", str(Path.home() / ".cache/ember/compare")))
    p.add_argument("--out", required=True, help="JSON file")
    args = p.parse_args(argv)

    t_start = time.time()
    run = {"date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
           "command": "bench/compare/profile_cells.py " + " ".join(shlex.quote(a) for a in argv),
           "machine": compare.machine_info(), "versions": compare.versions(args.ember),
           "settings": {k: getattr(args, k) for k in ("threads", "warmup", "reps", "min_reps",
                                                      "cell_seconds", "idle_wait_ms",
                                                      "settle_ms", "seed")},
           "load_before": list(os.getloadavg()), "cells": []}
    peak = args.peak_probe or str(Path(args.ember).parent.parent.parent / "bench"
                                  / "bench_peak_probe")
    run["peaks"] = compare.peak_probe(peak, args.threads)
    cells = parse_cells(args.cells)
    groups = defaultdict(list)
    for model, dtype, b, l in cells:
        groups[(model, dtype)].append((b, l))
    tmp = Path(tempfile.mkdtemp(prefix="ember-profile-"))
    for (model, dtype), shapes in groups.items():
        mdir = compare.model_dir(model)
        work = Path(args.work_root) / model
        cfg = prepare.model_config(mdir)
        peer_name = PEER[dtype]
        compare.log(f"{model} {dtype}: ember_{dtype} against {peer_name}")
        ember = EmberProfiled(args.ember, mdir, work, args.threads, dtype, cfg)
        if peer_name.startswith("ov"):
            peer = OvProfiled(prepare.export_onnx(mdir, work), args.threads, dtype)
        else:
            peer = OrtProfiled(prepare.quantize_onnx(mdir, work), args.threads, dtype,
                               tmp / f"{model}-{dtype}")
        for b, l in shapes:
            ids = compare.cell_ids(mdir, cfg["vocab"], b, l, args.seed)
            if isinstance(peer, OrtProfiled):  # one profile file per cell
                peer.close()
                peer = OrtProfiled(prepare.quantize_onnx(mdir, work), args.threads, dtype,
                                   tmp / f"{model}-{dtype}-{b}x{l}")
            runs = time_cell([ember, peer], ids, args)
            if isinstance(peer, OrtProfiled):
                ops = peer.finish()[args.warmup:]
                runs[peer.name] = [(m, c, o) for (m, c, _), o in zip(runs[peer.name], ops)]
            entry = {"model": model, "config": cfg, "dtype": dtype, "batch": b, "length": l,
                     "ember": ember.name, "peer": peer.name, "target": TARGET[dtype],
                     "engines": {n: summarize(r, cfg, b, l) for n, r in runs.items()},
                     "kernels": {n: {c: sorted(k) for c, k in e.kernels.items()}
                                 for n, e in ((peer.name, peer),)}}
            timed = [lab for lab, _ in sorted(zip(ember.labels[-len(runs[ember.name]):],
                                                  runs[ember.name]), key=lambda x: x[1][0])]
            timed = timed[:(len(timed) + 1) // 2]  # the quieter half, as summarize()
            entry["ember_info"] = {k: ember.e.info.get(k) for k in ("isa", "dtype",
                                                                    "quantization")}
            entry["ember_labels"] = {
                k: {"ms": statistics.median(r.get(k, (0.0, 0.0))[0] for r in timed),
                    "cpu_ms": statistics.median(r.get(k, (0.0, 0.0))[1] for r in timed)}
                for k in sorted({k for r in timed for k in r})}
            e, q = entry["engines"][ember.name], entry["engines"][peer.name]
            entry["ratio"] = q["median_ms"] / e["median_ms"]
            compare.log(f"  {b}x{l}: {ember.name} {e['median_ms']:.2f} ms, {peer.name} "
                        f"{q['median_ms']:.2f} ms, ratio {entry['ratio']:.2f}")
            run["cells"].append(entry)
        ember.close()
        peer.close()
    run["load_after"] = list(os.getloadavg())
    run["duration_s"] = time.time() - t_start
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(run, indent=1) + "\n")
    compare.log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
