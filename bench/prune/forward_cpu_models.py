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
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from forward_cpu_time import cpu_seconds  # noqa: E402  (one `ember bench` run's CPU time)

REPS = {"1x128": (1, 41), "8x128": (1, 9)}


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
