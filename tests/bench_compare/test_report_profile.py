"""bench/compare/report_profile.py: the section of docs/benchmarks.md that explains a missed
speed target with the cell's per-op profile. The profile below is hand-written test input
(its numbers are chosen so that the expected table cells and the bound can be worked out by
hand), not a measurement."""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench/compare"))

import report  # noqa: E402
import report_profile  # noqa: E402

CFG = {"model_type": "bert", "hidden": 4, "heads": 1, "layers": 1, "intermediate": 16,
       "vocab": 100, "max_positions": 512, "type_vocab": 2}


def cls(ms, wall, gflop=None, cpu=None):
    c = {"ms": ms, "share": ms / wall}
    if gflop is not None:
        c["gflop"] = gflop
    if cpu is not None:
        c["cpu_ms"] = cpu
    return c


def engine(wall, classes, cpu=None):
    return {"reps": 8, "kept": 4, "median_ms": wall, "median_ms_all": wall, "ms": [wall],
            "median_cpu_ms": cpu, "classes": classes}


BF16_CELL = {
    "model": "tiny", "config": CFG, "dtype": "bf16", "batch": 1, "length": 10,
    "ember": "ember_bf16", "peer": "ov_bf16", "target": 1.2, "ratio": 8.5 / 10.0,
    "kernels": {"ov_bf16": {"GEMM QKV": ["FullyConnected:brgemm_avx512_bf16"]}},
    "engines": {
        # The GEMMs' 8 ms of 10 are 16 ms of the 20 ms of CPU for 2.4 GFLOP = 150 GFLOP per
        # CPU second, 60% of one thread's 250.
        "ember_bf16": engine(10.0, {
            "GEMM QKV": cls(2.0, 10, 0.6, 4.0), "GEMM attention output": cls(1.0, 10, 0.3, 2.0),
            "GEMM FFN up (+GELU)": cls(3.0, 10, 0.9, 6.0),
            "GEMM FFN down": cls(2.0, 10, 0.6, 4.0),
            "attention (QK^T, softmax, PV)": cls(1.0, 10, 0.01, 2.0),
            "add + LayerNorm": cls(0.5, 10, None, 0.5), "outside ops": cls(0.5, 10)}, cpu=20.0),
        "ov_bf16": engine(8.5, {
            "GEMM QKV": cls(1.5, 8.5, 0.6), "GEMM attention output": cls(0.8, 8.5, 0.3),
            "GEMM FFN up (+GELU)": cls(2.5, 8.5, 0.9), "GEMM FFN down": cls(2.0, 8.5, 0.6),
            "attention (QK^T, softmax, PV)": cls(0.7, 8.5, 0.01),
            "add + LayerNorm": cls(0.3, 8.5), "quantize / layout / convert": cls(0.4, 8.5),
            "outside ops": cls(0.3, 8.5)}, cpu=17.0)}}

INT8_CELL = {
    "model": "tiny", "config": CFG, "dtype": "int8", "batch": 2, "length": 8,
    "ember": "ember_int8", "peer": "ort_int8", "target": 1.5, "ratio": 4.0 / 3.0,
    "kernels": {},
    # Labels inside a Linear's are reported as a share of the GEMM rows' CPU time (1.6 +
    # 2.4 ms: no class has CPU time for the bound, which stays per wall second).
    "ember_labels": {"linear_int8 16x4->12": {"ms": 1.0, "cpu_ms": 1.6},
                     "linear_int8: quantize x": {"ms": 0.5, "cpu_ms": 0.8}},
    "engines": {
        "ember_int8": engine(3.0, {
            "GEMM QKV": {**cls(1.0, 3, 0.2), "cpu_ms": 1.6},
            "attention (QK^T, softmax, PV)": cls(0.5, 3, 0.01),
            "GEMM FFN up (+GELU)": {**cls(1.5, 3, 0.3), "cpu_ms": 2.4}}),
        "ort_int8": engine(4.0, {
            "GEMM QKV + attention": cls(1.2, 4, 0.21), "GEMM FFN up (+GELU)": cls(2.0, 4, 0.3),
            "quantize / layout / convert": cls(0.8, 4)})}}

PROFILE = {
    "date": "2026-12-07T00:00:00+00:00", "command": "bench/compare/profile_cells.py --out X",
    "duration_s": 60, "versions": {"ember": "ember 0.1.0", "ember_commit": "abc1234",
                                   "openvino": "ov", "onnxruntime": "ort"},
    "settings": {"threads": 2, "min_reps": 7, "reps": 15},
    "load_before": [0.5, 0.5, 0.5], "load_after": [0.6, 0.6, 0.6],
    # The lower of two measurements of the same peak: the report takes the higher (250).
    "peaks": {"results": [{"probe": "bf16_dp_avx512", "instruction": "vdpbf16ps zmm",
                           "threads": 2, "peak_wall": 400.0, "per_thread_cpu_time": 200.0},
                          {"probe": "int8_dp_avx512", "instruction": "vpdpbusd zmm",
                           "threads": 2, "peak_wall": 1000.0, "per_thread_cpu_time": 500.0}]},
    "cells": [BF16_CELL, INT8_CELL]}

RUN = {"peaks": {"results": [{"probe": "bf16_dp_avx512", "instruction": "vdpbf16ps zmm",
                              "threads": 2, "peak_wall": 500.0, "per_thread_cpu_time": 250.0},
                             {"probe": "bf16_dp_avx512", "instruction": "vdpbf16ps zmm",
                              "threads": 1, "peak_wall": 900.0,  # another thread count
                              "per_thread_cpu_time": 900.0}]},
       "results": [{"model": "tiny", "engine": "ember_bf16", "batch": 1, "length": 10,
                    "median_ms": 10.0},
                   {"model": "tiny", "engine": "ov_bf16", "batch": 1, "length": 10,
                    "median_ms": 9.2}]}


def table_row(lines, name):
    rows = [x for x in lines if x.startswith(f"| {name} ")]
    assert len(rows) == 1, (name, rows)
    return [c.strip() for c in rows[0].strip("|").split("|")]


def test_bf16_cell_table_and_bound():
    every = report_profile.section(RUN, PROFILE)
    assert every[0] == "## Where the targets are missed: the profile"
    lines = every[every.index("### tiny 1x10, ember_bf16 against ov_bf16 (target >= 1.2x)"):
                  every.index("### tiny 2x8, ember_int8 against ort_int8 (target >= 1.5x)")]
    assert ("This run: Ember 10.00 ms, OpenVINO bf16 8.50 ms, ratio **0.85** (the timed grid "
            "above: 0.92); Ember CPU 20.00 ms, ov_bf16 CPU 17.00 ms; 4 of 8 repetitions each "
            "(the quieter half).") in lines
    # class, Ember ms, share, CPU ms, peer ms, share, peer/Ember, Ember % of peak (per CPU
    # second: 0.6 GFLOP in 4 ms of CPU against 250), peer % (per wall second: 0.6 GFLOP in
    # 1.5 ms against 500), kernels
    assert table_row(lines, "GEMM QKV (K=4, N=12)") == [
        "GEMM QKV (K=4, N=12)", "2.00", "20%", "4.00", "1.50", "18%", "0.75", "60%", "80%",
        "`FullyConnected:brgemm_avx512_bf16`"]
    assert table_row(lines, "GEMM FFN down (K=16, N=4)")[1:9] == [
        "2.00", "20%", "4.00", "2.00", "24%", "1.00", "60%", "60%"]
    # No % of peak for attention; a class only the peer has is a row with Ember's side empty.
    assert table_row(lines, "attention (QK^T, softmax, PV)")[7:9] == ["-", "-"]
    assert table_row(lines, "quantize / layout / convert")[1:7] == [
        "-", "-", "-", "0.40", "5%", "-"]
    assert table_row(lines, "forward (wall)")[1:7] == [
        "10.00", "100%", "20.00", "8.50", "100%", "0.85"]
    # GEMMs at the peak: 80% of the time shrinks to 80% x 60%, so the grid's 0.92 becomes
    # 0.92 / (0.2 + 0.48) = 1.35, and 0.92 / 0.48 = 1.92 with nothing else; 1.2x needs the
    # time 1 - 0.92 / 1.2 = 23% lower.
    assert ("GEMMs are 80% of Ember's CPU time at 60% of the bf16 peak (`vdpbf16ps zmm`, per "
            "CPU second); with them at 100% of the peak and every other op as it is, the timed "
            "grid's ratio 0.92 would be 1.35x, and 1.92x with every other op free as well. "
            "1.2x needs Ember's time 23% lower than in the timed grid.") in lines
    gap = next(x for x in lines if x.startswith("Ember slower than the peer in:"))
    assert gap.startswith("Ember slower than the peer in: GEMM QKV (+0.50 ms), GEMM FFN up "
                          "(+GELU) (+0.50 ms), attention (QK^T, softmax, PV) (+0.30 ms);")
    assert "only in the peer's: quantize / layout / convert (0.40 ms)" in gap


def test_summary_row_per_cell():
    lines = report_profile.section(RUN, PROFILE)
    row = table_row(lines, "tiny 1x10")
    assert row == ["tiny 1x10", "ember_bf16 / ov_bf16", "1.2x", "0.85", "0.92", "80%", "60%",
                   "1.35", "GEMM QKV (+0.50 ms)"]
    # bf16: 1.35 >= 1.2 at the peak; int8: 4.00 >= 1.5 (this run's ratio, no grid one).
    assert ("Ember's GEMMs are 80%-83% of its time in these cells, at 20%-60% of the peak of "
            "their instruction. With every GEMM at 100% of the peak and nothing else changed, "
            "2 of the 2 cells would meet their target (tiny 1x10 bf16, tiny 2x8 int8).") in lines
    # No grid ratio for the int8 cell: "-", not a number from elsewhere. Its largest GEMM gap:
    # QKV + attention (Ember 1.5 ms, ORT 1.2); FFN up is faster in Ember (1.5 < 2.0).
    assert table_row(lines, "tiny 2x8")[4] == "-"
    assert table_row(lines, "tiny 2x8")[8] == "GEMM QKV + attention (+0.30 ms)"


def test_int8_cell_folds_qkv_and_attention_like_the_peer():
    lines = report_profile.section(RUN, PROFILE)
    at = lines.index("### tiny 2x8, ember_int8 against ort_int8 (target >= 1.5x)")
    cell = lines[at:]
    assert table_row(cell, "GEMM QKV + attention")[1:7] == [
        "1.50", "50%", "1.60", "1.20", "30%", "0.80"]
    assert not [x for x in cell if x.startswith("| GEMM QKV (")]
    assert not [x for x in cell if x.startswith("| attention")]
    # Ember's own GEMMs for the bound: QKV and FFN up, 2.5 ms of 3, 0.5 GFLOP; no CPU time,
    # so per wall second: 200 GOP/s, 20% of 1000. No grid ratio: this run's 1.33 becomes
    # 1.33 / (1 - 5/6 x 0.8) = 4.00, and 1.33 / (5/6 x 0.2) = 8.00; 1 - 1.33 / 1.5 = 11%.
    assert ("GEMMs are 83% of Ember's time at 20% of the int8 peak (`vpdpbusd zmm`, per wall "
            "second); with them at 100% of the peak and every other op as it is, this run's "
            "ratio 1.33 would be 4.00x, and 8.00x with every other op free as well. 1.5x needs "
            "Ember's time 11% lower than in this run.") in cell
    # 2 x 8 = 16 rows: weight-bound; 1 layer x (4 x 16 + 2 x 64) = 192 int8 weights per
    # forward = 0.000192 MB, over 2.5 ms of GEMM wall time.
    assert ("At M = 16 rows a GEMM does 16 multiply-adds per weight it reads: the bound here is "
            "streaming the 0 MB of int8 weights per forward (0.0 GB/s over Ember's GEMM wall "
            "time in this run), not the FLOP peak.") in cell
    assert ("Inside Ember's GEMM rows: `linear_int8: quantize x` 0.50 ms wall, 0.80 ms CPU "
            "(20% of the GEMMs' CPU time).") in cell


def test_the_rest_of_the_report_is_unchanged():
    run = json.loads((REPO / "bench/results/2026-12-07-compare-issue19.json").read_text())
    without = report.markdown(run)
    with_profile = report.markdown(run, PROFILE)
    section = "\n".join(report_profile.section(run, PROFILE))
    assert section in with_profile
    assert with_profile.replace(section + "\n", "", 1) == without
    # Placed after the efficiency sections, before the first model's tables.
    assert (with_profile.index("### Ember fp32 against the sgemm peak")
            < with_profile.index("## Where the targets are missed")
            < with_profile.index("## all-MiniLM-L6-v2"))
