"""ember.Encoder.encode against sentence-transformers (PyTorch) on one model, same threads,
interleaved in rounds so that a crowded machine slows both alike; and the per-call overhead
of the binding at batch 1 (Encoder.encode and the raw _ember call, each against the same
public C++ call timed in a C++ loop).

Runs in a Python that has torch + sentence-transformers (~/.cache/ember/venv-reference) with
the ember package importable (PYTHONPATH=<a directory the wheel is installed into>):

  pip install --no-deps --target /tmp/ember-bench build/wheel/ember-*.whl
  PYTHONPATH=/tmp/ember-bench ~/.cache/ember/venv-reference/bin/python \
      bench/python/bench_encode.py --threads 1 --out bench/results/DATE-python-encode.json
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2]


def per_call(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def round_ratios(slow, fast) -> dict:
    r = [s / f for s, f in zip(slow, fast)]
    return {"per_round": r, "median": statistics.median(r)}


def paired_overhead(enc, text: str, calls: int) -> dict:
    """Median over calls of (Python call - the same call timed in C++), the three run back to
    back each time so that a crowded machine's drift cancels out of the differences."""
    from ember import _ember
    encode, raw, engine = [], [], []
    for _ in range(calls):
        t0 = time.perf_counter()
        enc.encode(text)
        t1 = time.perf_counter()
        enc._model.embed([text])
        t2 = time.perf_counter()
        cpp = _ember._time_run_texts(enc._model, [text], 1)
        encode.append(t1 - t0 - cpp)
        raw.append(t2 - t1 - cpp)
        engine.append(cpp)
    return {"calls": calls, "engine_us": statistics.median(engine) * 1e6,
            "encode_us": statistics.median(encode) * 1e6,
            "raw_binding_us": statistics.median(raw) * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls-b1", type=int, default=100)
    ap.add_argument("--calls-b32", type=int, default=5)
    ap.add_argument("--overhead-calls", type=int, default=4000)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    import ember
    from ember import _ember
    from ember._loading import model_cache_dir

    torch.set_num_threads(a.threads)
    model_dir = Path(a.model) if Path(a.model).is_dir() else model_cache_dir() / a.model
    texts = json.loads((SOURCE / "tests/fixtures/reference/all-MiniLM-L6-v2/inputs.json")
                       .read_text())["texts"]
    one = "A man is playing a guitar on the stage tonight."
    batch = [t for t in texts if 20 <= len(t) <= 300][:32]
    assert len(batch) == 32

    enc = ember.Encoder(str(model_dir), threads=a.threads)
    st = SentenceTransformer(str(model_dir), device="cpu")
    # The same vectors, or the comparison means nothing.
    cos = float((enc.encode(batch) * st.encode(batch)).sum(1).min())
    assert cos >= 0.99999, cos

    cells = {
        "ember_b1": lambda: enc.encode(one),
        "st_b1": lambda: st.encode(one),
        "ember_b32": lambda: enc.encode(batch, batch_size=32),
        "st_b32": lambda: st.encode(batch, batch_size=32),
        "binding_raw_b1": lambda: enc._model.embed([one]),
    }
    calls = {k: a.calls_b32 if k.endswith("b32") else a.calls_b1 for k in cells}
    times = {k: [] for k in cells}
    times["engine_cpp_b1"] = []
    for fn in cells.values():  # warm-up
        fn()
    for _ in range(a.rounds):
        for k, fn in cells.items():
            times[k].append(per_call(fn, calls[k]))
        times["engine_cpp_b1"].append(_ember._time_run_texts(enc._model, [one], a.calls_b1))
    med = {k: statistics.median(v) for k, v in times.items()}
    overhead = {"MiniLM": paired_overhead(enc, one, a.overhead_calls // 4),
                "tiny-bert-st6": paired_overhead(
                    ember.Encoder(str(SOURCE / "tests/fixtures/models/tiny-bert-st6"),
                                  threads=a.threads), one, a.overhead_calls)}
    result = {
        "what": "ember.Encoder.encode vs sentence-transformers encode, interleaved rounds",
        "model": a.model, "threads": a.threads, "rounds": a.rounds, "calls": calls,
        "min_cosine_b32": cos,
        "host": platform.node(), "cpus": os.cpu_count(),
        "torch": torch.__version__, "ember": ember.__version__, "numpy": np.__version__,
        "median_seconds_per_call": med,
        "all_seconds_per_call": times,
        # Per round (the two measured back to back), then the median over rounds.
        "speedup_st_over_ember_b1": round_ratios(times["st_b1"], times["ember_b1"]),
        "speedup_st_over_ember_b32": round_ratios(times["st_b32"], times["ember_b32"]),
        "overhead_b1_paired": overhead,
    }
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    for k, v in med.items():
        print(f"{k:16s} {v * 1e3:9.3f} ms")
    print(f"sentence-transformers / ember (median of rounds): "
          f"b1 {result['speedup_st_over_ember_b1']['median']:.2f}x, "
          f"b32 {result['speedup_st_over_ember_b32']['median']:.2f}x")
    for name, o in overhead.items():
        print(f"overhead at b1 over the engine ({name}, engine {o['engine_us']:.1f} us): "
              f"encode {o['encode_us']:.1f} us, raw binding {o['raw_binding_us']:.1f} us")


if __name__ == "__main__":
    main()
