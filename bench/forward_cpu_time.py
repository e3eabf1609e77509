#!/usr/bin/env python3
"""CPU time per forward of `ember bench`, one compute thread, binaries interleaved.

On a shared machine wall time measures the neighbours; the CPU time of the process does not
count time spent waiting for a core. Each (binary, cell) runs `ember bench` twice, with few and
with many repetitions, and the difference of the process CPU times (user + sys) divided by the
difference of the repetitions is the CPU time of one forward: loading, packing and warm-up
cancel out. Binaries alternate their order every round. Used for docs/gemm.md ("int8 GEMM").

  bench/forward_cpu_time.py NAME=EMBER[,NAME=EMBER...] MODEL ROUNDS OUT.json [CELLS]

CELLS is a comma-separated subset of 1x8,1x16,1x128,8x128 (default 1x16,1x128,8x128).
"""
import json
import resource
import statistics
import subprocess
import sys

REPS = {"1x8": (1, 201), "1x16": (1, 161), "1x128": (1, 33), "8x128": (1, 7)}


def cpu_seconds(binary, model, cell, reps):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([binary, "bench", "-m", model, "--grid", cell, "-t", "1", "--spin-us", "0",
                    "--warmup", "1", "--reps", str(reps)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    binaries = dict(item.split("=", 1) for item in sys.argv[1].split(","))
    model, rounds, out = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    cells = sys.argv[5].split(",") if len(sys.argv) > 5 else ["1x16", "1x128", "8x128"]
    ms = {name: {cell: [] for cell in cells} for name in binaries}
    names = list(binaries)
    for r in range(rounds):
        for cell in cells:
            lo, hi = REPS[cell]
            for name in names if r % 2 == 0 else names[::-1]:
                t_lo = cpu_seconds(binaries[name], model, cell, lo)
                t_hi = cpu_seconds(binaries[name], model, cell, hi)
                ms[name][cell].append((t_hi - t_lo) / (hi - lo) * 1e3)
        print(f"round {r + 1}: " + json.dumps(
            {n: {c: round(v[-1], 2) for c, v in ms[n].items()} for n in names}), flush=True)
    result = {"model": model, "threads": 1, "reps_lo_hi": {c: REPS[c] for c in cells},
              "ms_per_forward": ms,
              "median_ms": {n: {c: round(statistics.median(v), 2) for c, v in ms[n].items()}
                            for n in names}}
    with open(out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
