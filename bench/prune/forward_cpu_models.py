#!/usr/bin/env python3
"""CPU time per forward of several models (a base and its pruned copies), one compute thread,
models interleaved: on a shared machine wall time measures the neighbours, the process's CPU
time (user + sys) does not. Each (model, cell) runs `ember bench` with few and with many
repetitions; the difference of the CPU times over the difference of the repetitions is one
forward (loading and warm-up cancel out). The order of the models reverses every round; the
median over the rounds is printed, with each model's ratio to the first.

  bench/prune/forward_cpu_models.py EMBER ROUNDS BASE MODEL... > out.json
"""
import json
import resource
import statistics
import subprocess
import sys

REPS = {"1x128": (1, 41), "8x128": (1, 9)}


def cpu_seconds(ember, model, cell, reps):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([ember, "bench", "-m", model, "--grid", cell, "-t", "1", "--spin-us", "0",
                    "--warmup", "1", "--reps", str(reps)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main():
    ember, rounds, models = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    samples = {m: {c: [] for c in REPS} for m in models}
    for r in range(rounds):
        for cell, (lo, hi) in REPS.items():
            for m in (models if r % 2 == 0 else models[::-1]):
                ms = (cpu_seconds(ember, m, cell, hi) - cpu_seconds(ember, m, cell, lo)) * 1000
                samples[m][cell].append(ms / (hi - lo))
    ms = {m: {c: statistics.median(v) for c, v in cells.items()} for m, cells in samples.items()}
    base = models[0]
    print(json.dumps({m: {c: {"cpu_ms": ms[m][c], "speedup": ms[base][c] / ms[m][c]}
                          for c in REPS} for m in models}, indent=1))


if __name__ == "__main__":
    main()
