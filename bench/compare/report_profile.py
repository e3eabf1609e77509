"""docs/benchmarks.md's section "Where the targets are missed: the profile", from the JSON of
bench/compare/profile_cells.py (per cell, Ember's and the peer's time per op class) and the
compare run's JSON (the cell's ratio in the timed grid, the machine's peaks): per cell a table
of op classes and the bound the peaks put on the ratio."""

import report_cells as cells

# Ember's dtype: the bench_peak_probe probes of the instruction its GEMMs compute with.
PEAK_PROBES = {"fp32": ("fp32_fma_avx512", "fp32_fma_avx2"), "bf16": ("bf16_dp_avx512",),
               "int8": ("int8_dp_avx512",)}
GEMM_PREFIX = "GEMM"
QKV, ATTN, QKV_ATTN = "GEMM QKV", "attention (QK^T, softmax, PV)", "GEMM QKV + attention"
ORDER = ["GEMM QKV", "GEMM attention output", "GEMM FFN up (+GELU)", "GEMM FFN down",
         "GEMM other", QKV_ATTN, ATTN, "add + LayerNorm", "embeddings",
         "quantize / layout / convert", "other ops", "outside ops"]
SMALL_M = 32  # rows at or below which a GEMM is bound by reading its weights
WEIGHT_BYTES = {"fp32": 4, "bf16": 2, "int8": 1}
NAMES = {"ov_bf16": "OpenVINO bf16", "ov_fp32": "OpenVINO fp32", "ort_int8": "ONNX Runtime int8"}


def peaks(run, prof):
    """{probe: {"wall": GFLOP/s per wall second on the run's threads, "thread": one thread's
    GFLOP per second of its CPU time, "instruction"}}: the higher of the compare run's and
    the profile run's measurement (another process on a shared core can only lower a peak)."""
    threads = prof["settings"]["threads"]
    out = {}
    for src in (run.get("peaks", {}), prof.get("peaks", {})):
        for p in src.get("results", []):
            if p["threads"] != threads:
                continue
            o = out.setdefault(p["probe"], {"wall": 0.0, "thread": 0.0,
                                            "instruction": p["instruction"]})
            o["wall"] = max(o["wall"], p["peak_wall"])
            o["thread"] = max(o["thread"], p.get("per_thread_cpu_time", 0.0))
    return out


def dtype_peak(pk, dtype):
    have = [pk[p] for p in PEAK_PROBES[dtype] if p in pk]
    return max(have, key=lambda p: p["wall"]) if have else None


def efficiency(c, peak):
    """Share of the peak reached by class `c` of an engine's run: per CPU second where the
    class has its CPU time (Ember: the process's CPU time while its ops ran, against one
    thread's peak per CPU second, so that a thread waiting for a core on a shared machine does
    not count against the kernel), else per wall second against the peak of all threads."""
    if not c or "gflop" not in c or not peak:
        return None
    if c.get("cpu_ms") and peak["thread"]:
        return c["gflop"] / (c["cpu_ms"] / 1e3) / peak["thread"]
    return c["gflop"] / (c["ms"] / 1e3) / peak["wall"] if c["ms"] else None


def shapes(cfg):
    h, i = cfg["hidden"], cfg["intermediate"]
    return {"GEMM QKV": f"K={h}, N={3 * h}", "GEMM attention output": f"K={h}, N={h}",
            "GEMM FFN up (+GELU)": f"K={h}, N={i}", "GEMM FFN down": f"K={i}, N={h}"}


def merged(classes, like):
    """Ember's classes folded as the peer's are: a peer that fuses the QKV GEMM into its
    attention op (ONNX Runtime's QAttention) is compared with Ember's QKV + attention."""
    if QKV_ATTN not in like:
        return classes
    out = {k: dict(v) for k, v in classes.items() if k not in (QKV, ATTN)}
    parts = [classes[k] for k in (QKV, ATTN) if k in classes]
    if parts:
        out[QKV_ATTN] = {k: sum(p.get(k, 0.0) for p in parts)
                         for k in ("ms", "share", "gflop", "cpu_ms") if k in parts[0]}
    return out


def bound(cell, pk, grid):
    """The numbers of the bound sentence: Ember's GEMM share (of its CPU time where the
    profile has it, else of its wall time) and efficiency, and the ratio the cell would reach
    with its GEMMs at 100% of the peak (the rest unchanged: the GEMM time scaled by the
    efficiency), and with every other op free as well, applied to the timed grid's ratio
    where there is one (no profiler running, a quiet machine), else this run's."""
    e = cell["engines"][cell["ember"]]
    peak = dtype_peak(pk, cell["dtype"])
    gemm = [v for k, v in e["classes"].items() if k.startswith(GEMM_PREFIX) and "gflop" in v]
    cpu = all(v.get("cpu_ms") for v in gemm) and e.get("median_cpu_ms")
    key = "cpu_ms" if cpu else "ms"
    total = sum(v[key] for v in gemm)
    eff = efficiency({"ms": total, "cpu_ms": total if cpu else None,
                      "gflop": sum(v["gflop"] for v in gemm)}, peak)
    if not eff:
        return None
    share = total / (e["median_cpu_ms"] if cpu else e["median_ms"])
    ratio = grid if grid is not None else cell["ratio"]
    return {"share": share, "efficiency": eff, "peak": peak, "ratio": ratio, "cpu": bool(cpu),
            "ratio_source": "the timed grid's" if grid is not None else "this run's",
            "ratio_at_peak": ratio / (1 - share * (1 - eff)),
            "ratio_gemm_only": ratio / (share * eff),
            "cut": 1 - ratio / cell["target"]}


def _ms(v):
    return "-" if v is None else f"{v:.2f}"


def _eff(c, peak, gemm):
    return cells.pct(efficiency(c, peak)) if gemm else "-"


def cell_lines(cell, run, pk, threads):
    b, l, model = cell["batch"], cell["length"], cell["model"]
    ember, peer = cell["ember"], cell["peer"]
    e, q = cell["engines"][ember], cell["engines"][peer]
    ec = merged(e["classes"], q["classes"])
    grid = cells.ratio(cells.index(run), model, peer, (b, l)) if run else None
    peak = dtype_peak(pk, cell["dtype"])
    shp = shapes(cell["config"])
    out = [f"### {model} {b}x{l}, {ember} against {peer} (target >= {cell['target']}x)", "",
           f"This run: Ember {e['median_ms']:.2f} ms, {NAMES.get(peer, peer)} "
           f"{q['median_ms']:.2f} ms, ratio **{cell['ratio']:.2f}**"
           + (f" (the timed grid above: {grid:.2f})" if grid is not None else "")
           + f"; Ember CPU {_ms(e.get('median_cpu_ms'))} ms, {peer} CPU "
           f"{_ms(q.get('median_cpu_ms'))} ms; {e['kept']} of {e['reps']} repetitions each "
           "(the quieter half).", "",
           f"| op class | Ember ms | Ember share | Ember CPU ms | {peer} ms | {peer} share | "
           f"{peer} / Ember | Ember % of peak (per CPU second) | {peer} % of peak (per wall "
           f"second) | {peer} kernels |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    kern = cell.get("kernels", {}).get(peer, {})
    for k in [c for c in ORDER if c in ec or c in q["classes"]] + sorted(
            c for c in set(ec) | set(q["classes"]) if c not in ORDER):
        a, p = ec.get(k), q["classes"].get(k)
        gemm = k.startswith(GEMM_PREFIX) and k != QKV_ATTN
        name = f"{k} ({shp[k]})" if k in shp else k
        ratio = f"{p['ms'] / a['ms']:.2f}" if a and p and a["ms"] > 0.005 else "-"
        out.append(f"| {name} | {_ms(a and a['ms'])} | {cells.pct(a and a['share'])} | "
                   f"{_ms(a and a.get('cpu_ms'))} | "
                   f"{_ms(p and p['ms'])} | {cells.pct(p and p['share'])} | {ratio} | "
                   f"{_eff(a, peak, gemm)} | {_eff(p, peak, gemm)} | "
                   f"{', '.join(f'`{x}`' for x in kern.get(k, []))} |")
    out.append(f"| forward (wall) | {e['median_ms']:.2f} | 100% | {_ms(e.get('median_cpu_ms'))} | "
               f"{q['median_ms']:.2f} | 100% | {cell['ratio']:.2f} | | | |")
    out.append("")
    bd = bound(cell, pk, grid)
    if bd:
        how = "CPU time" if bd["cpu"] else "time"
        out.append(
            f"GEMMs are {bd['share']:.0%} of Ember's {how} at {bd['efficiency']:.0%} of the "
            f"{cell['dtype']} peak (`{bd['peak']['instruction']}`, per "
            f"{'CPU' if bd['cpu'] else 'wall'} second); with them at 100% "
            f"of the peak and every other op as it is, {bd['ratio_source']} ratio "
            f"{bd['ratio']:.2f} would be {bd['ratio_at_peak']:.2f}x, and "
            f"{bd['ratio_gemm_only']:.2f}x with every other op free as well. "
            + (f"{cell['target']}x needs Ember's time {bd['cut']:.0%} lower than in "
               f"{bd['ratio_source'].removesuffix(chr(39) + 's')}." if bd["cut"] > 0 else
               f"{bd['ratio_source'].capitalize()} ratio meets {cell['target']}x."))
    m, cfg = b * l, cell["config"]
    if m <= SMALL_M:
        gemm_ms = sum(v["ms"] for k, v in e["classes"].items() if k.startswith(GEMM_PREFIX))
        mb = (cfg["layers"] * (4 * cfg["hidden"] ** 2 + 2 * cfg["hidden"] * cfg["intermediate"])
              * WEIGHT_BYTES[cell["dtype"]] / 1e6)
        out.append(f"At M = {m} rows a GEMM does {m} multiply-adds per weight it reads: the "
                   f"bound here is streaming the {mb:.0f} MB of {cell['dtype']} weights per "
                   f"forward ({mb / gemm_ms:.1f} GB/s over Ember's GEMM wall time in this run), "
                   "not the FLOP peak.")
    inner = {k: v for k, v in sorted(cell.get("ember_labels", {}).items()) if ": " in k}
    if inner:
        gemm = [v for k, v in e["classes"].items() if k.startswith(GEMM_PREFIX)]
        gemm_cpu = sum(v.get("cpu_ms", 0.0) for v in gemm)
        out.append("Inside Ember's GEMM rows: " + ", ".join(
            f"`{k}` {v['ms']:.2f} ms wall, {v['cpu_ms']:.2f} ms CPU "
            f"({v['cpu_ms'] / gemm_cpu:.0%} of the GEMMs' CPU time)"
            for k, v in inner.items() if gemm_cpu) + ".")
    diff = sorted(((a["ms"] - q["classes"][k]["ms"], k) for k, a in ec.items()
                   if k in q["classes"]), reverse=True)
    lose = [f"{k} (+{d:.2f} ms)" for d, k in diff if d > 0.005][:3]
    gain = [f"{k} ({d:.2f} ms)" for d, k in reversed(diff) if d < -0.005][:3]
    only = [f"{k} ({a['ms']:.2f} ms)" for k, a in ec.items()
            if k not in q["classes"] and a["ms"] > 0.005]
    only_peer = [f"{k} ({p['ms']:.2f} ms)" for k, p in q["classes"].items()
                 if k not in ec and p["ms"] > 0.005]
    out.append("Ember slower than the peer in: " + (", ".join(lose) or "no class")
               + "; faster in: " + (", ".join(gain) or "no class")
               + (f"; only in Ember's profile: {', '.join(only)}" if only else "")
               + (f"; only in the peer's: {', '.join(only_peer)}" if only_peer else "") + ".")
    out.append("")
    return out


def summary_lines(prof, run, pk):
    out = ["| cell | Ember / peer | target | ratio (this run) | ratio (grid) | Ember GEMM share "
           "| Ember GEMM % of peak | grid ratio with Ember's GEMMs at the peak | largest GEMM "
           "gap (wall) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    idx = cells.index(run) if run else {}
    for c in prof["cells"]:
        q = c["engines"][c["peer"]]["classes"]
        ec = merged(c["engines"][c["ember"]]["classes"], q)
        gaps = sorted(((a["ms"] - q[k]["ms"], k) for k, a in ec.items()
                       if k in q and k.startswith(GEMM_PREFIX)), reverse=True)
        grid = cells.ratio(idx, c["model"], c["peer"], (c["batch"], c["length"])) \
            if idx else None
        bd = bound(c, pk, grid)
        out.append(f"| {c['model']} {c['batch']}x{c['length']} | {c['ember']} / {c['peer']} | "
                   f"{c['target']}x | {c['ratio']:.2f} | {cells.fmt(grid)} | "
                   f"{cells.pct(bd and bd['share'])} | {cells.pct(bd and bd['efficiency'])} | "
                   f"{cells.fmt(bd and bd['ratio_at_peak'])} | "
                   + (f"{gaps[0][1]} (+{gaps[0][0]:.2f} ms)" if gaps and gaps[0][0] > 0 else "-")
                   + " |")
    bounds = [(c, bound(c, pk, cells.ratio(idx, c["model"], c["peer"],
                                            (c["batch"], c["length"])) if idx else None))
              for c in prof["cells"]]
    bounds = [(c, b) for c, b in bounds if b]
    if bounds:
        reach = [f"{c['model']} {c['batch']}x{c['length']} {c['dtype']}" for c, b in bounds
                 if b["ratio_at_peak"] >= c["target"]]
        how = "CPU time" if all(b["cpu"] for _, b in bounds) else "time"
        out += ["", f"Ember's GEMMs are {min(b['share'] for _, b in bounds):.0%}-"
                f"{max(b['share'] for _, b in bounds):.0%} of its {how} in these cells, at "
                f"{min(b['efficiency'] for _, b in bounds):.0%}-"
                f"{max(b['efficiency'] for _, b in bounds):.0%} of the peak of their "
                f"instruction. With every GEMM at 100% of the peak and nothing else changed, "
                f"{len(reach)} of the {len(bounds)} cells would meet their target"
                + (f" ({', '.join(reach)})" if reach else "") + "."]
    return out + [""]


def section(run, prof):
    """The section's markdown lines."""
    pk = peaks(run or {}, prof)
    v = prof.get("versions", {})
    s = prof["settings"]
    lb, la = prof.get("load_before", []), prof.get("load_after", [])
    out = ["## Where the targets are missed: the profile", "",
           f"Generated from `{prof['command']}` ({prof['date']}, "
           f"{prof.get('duration_s', 0) / 60:.1f} min; Ember {v.get('ember')} commit "
           f"{v.get('ember_commit')}, openvino {v.get('openvino')}, onnxruntime "
           f"{v.get('onnxruntime')}; load average before "
           f"{', '.join(f'{x:.2f}' for x in lb)}, after {', '.join(f'{x:.2f}' for x in la)}). "
           f"In each cell Ember and the peer of the missed target ran interleaved in one "
           f"process, {s['threads']} threads each, every engine with its own per-op profiler "
           "on: Ember `EMBER_PROFILE=1` (`ember bench --serve-stdin`'s `profile` request after "
           "each run), OpenVINO `PERF_COUNT` (`infer_request.profiling_info`: real time and "
           "kernel per node), ONNX Runtime `enable_profiling` (its JSON's node events per "
           "run). Each op is put in one class; a GEMM's role gives its shape (K inputs, N "
           "outputs; M = batch x length tokens). Ember fuses GELU into the FFN-up GEMM and "
           "OpenVINO does too; ONNX Runtime's BiasGelu is counted in that row. ONNX Runtime "
           "int8 fuses the QKV GEMM into QAttention, so Ember's QKV GEMM and attention are "
           "one row there. \"outside ops\": the run's wall time less its profiled ops "
           "(dispatch, the Python call of the peers, Ember's work between op labels). "
           f"Medians over the quieter half of {s['min_reps']}-{s['reps']} repetitions per cell "
           "(the machine is shared: a repetition that lost a core puts the wait into some op); "
           "the profilers' own cost is in both engines' times, so the ratio of this run is "
           "given beside the timed grid's, and the bound is applied to the grid's. Ember's "
           "profile also has the process's CPU time while each op ran (all threads): on a "
           "shared machine an op's wall time includes the time a thread waited for a core "
           "(small ops that end in a barrier, add + LayerNorm above all, are hit hardest), "
           "its CPU time does not, so Ember's GEMM share and efficiency are taken from CPU "
           "time. % of peak: the class's GFLOP (2 x M x K x N per GEMM, all layers) per CPU "
           "second against one thread's peak per CPU second (Ember), per wall second against "
           "the peak of all threads (the peer: its profilers give wall time only, so a busy "
           "machine lowers its figure); the peak of the instruction of the dtype "
           "(`bench_peak_probe`, the higher of the compare run's and this run's measurement): "
           + ", ".join(f"{p} `{v['instruction']}` {v['wall']:.0f} GFLOP/s ({v['thread']:.0f} per "
                       "thread per CPU second)" for p, v in sorted(pk.items()))
           + ".", ""]
    out += summary_lines(prof, run, pk)
    for c in prof["cells"]:
        out += cell_lines(c, run, pk, s["threads"])
    return out
