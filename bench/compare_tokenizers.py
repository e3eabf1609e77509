#!/usr/bin/env python3
"""Single-thread encode throughput: Ember vs the Hugging Face `tokenizers` library (issue #3).

    .venv/bin/python bench/compare_tokenizers.py --bin build/bench/bench_tokenize_corpus \\
        --corpus CORPUS.txt [--reps 5] [--seconds 3] [--stride 1] [--out bench-results/tokenizers]

For each tokenizer (WordPiece bert-base-uncased, byte-level BPE, Unigram XLM-R), repetitions
are interleaved: library `encode_batch` over all corpus lines, library `encode` in a loop,
then `bench_tokenize_corpus --bench` (its own process, one thread). The library runs with
RAYON_NUM_THREADS=1 and TOKENIZERS_PARALLELISM=false (set before it is imported), padding
off, the tokenizer.json's truncation on (as in Ember). Each library repetition encodes the
corpus as many times as fit in --seconds. Reports medians of tokens/s and MB/s (UTF-8 input
bytes) and the ratio Ember / library; writes OUT.json and OUT.md.
"""
import os

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import tokenizers  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests/fixtures/tokenizers"
DEFAULT_TOKENIZERS = ["bert-base-uncased", "bpe-byte-level", "unigram-xlmr"]


def library_run(tok, lines, n_bytes, seconds, batch):
    start = time.perf_counter()
    tokens = passes = 0
    while True:
        if batch:
            tokens += sum(len(e.ids) for e in tok.encode_batch(lines))
        else:
            for line in lines:
                tokens += len(tok.encode(line).ids)
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    return {"tokens_per_s": tokens / elapsed, "mb_per_s": n_bytes * passes / 1e6 / elapsed, "passes": passes}


def ember_run(binary, fixture, corpus, seconds):
    out = subprocess.run([binary, "--bench", str(fixture), str(corpus), "--seconds", str(seconds)],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    return {"tokens_per_s": r["tokens_per_s"], "mb_per_s": r["mb_per_s"], "passes": r["passes"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="bench_tokenize_corpus")
    ap.add_argument("--corpus", required=True, help="from scripts/make_tokenizer_corpus.py")
    ap.add_argument("--tokenizers", nargs="+", default=DEFAULT_TOKENIZERS)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum time per repetition")
    ap.add_argument("--stride", type=int, default=1, help="use every N-th corpus line (shorter runs)")
    ap.add_argument("--out", default="bench-results/tokenizers")
    args = ap.parse_args()

    lines = Path(args.corpus).read_bytes().decode("utf-8").split("\n")[:-1][:: args.stride]
    corpus = Path(args.corpus)
    if args.stride > 1:  # Ember reads a file: write the slice next to the output
        corpus = Path(args.out).with_suffix(f".stride{args.stride}.txt")
        corpus.parent.mkdir(parents=True, exist_ok=True)
        corpus.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    n_bytes = sum(len(line.encode("utf-8")) for line in lines)
    results = {}
    for name in args.tokenizers:
        fixture = FIXTURES / f"{name}.json"
        tok = Tokenizer.from_file(str(fixture))
        tok.no_padding()
        tok.encode_batch(lines[:1000])  # warm-up
        runs = {"library_encode_batch": [], "library_encode_loop": [], "ember": []}
        for rep in range(args.reps):
            runs["library_encode_batch"].append(library_run(tok, lines, n_bytes, args.seconds, True))
            runs["library_encode_loop"].append(library_run(tok, lines, n_bytes, args.seconds, False))
            runs["ember"].append(ember_run(args.bin, fixture, corpus, args.seconds))
            print(name, rep, {k: round(v[-1]["tokens_per_s"]) for k, v in runs.items()}, flush=True)
        med = {k: {m: statistics.median(r[m] for r in v) for m in ("tokens_per_s", "mb_per_s")}
               for k, v in runs.items()}
        results[name] = {
            "runs": runs,
            "median": med,
            "ratio_vs_encode_batch": med["ember"]["tokens_per_s"] / med["library_encode_batch"]["tokens_per_s"],
            "ratio_vs_encode_loop": med["ember"]["tokens_per_s"] / med["library_encode_loop"]["tokens_per_s"],
        }

    meta = {
        "tokenizers_version": tokenizers.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "corpus": str(args.corpus),
        "stride": args.stride,
        "corpus_lines": len(lines),
        "corpus_bytes": n_bytes,
        "reps": args.reps,
        "seconds_per_rep": args.seconds,
        "threads": 1,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    rows = ["| tokenizer | library encode_batch tok/s (MB/s) | library encode loop tok/s (MB/s) "
            "| Ember tok/s (MB/s) | Ember / batch | Ember / loop |",
            "|---|---|---|---|---|---|"]
    for name, r in results.items():
        m = r["median"]
        cell = lambda k: f"{m[k]['tokens_per_s'] / 1e6:.2f} M ({m[k]['mb_per_s']:.2f})"  # noqa: E731
        rows.append(f"| {name} | {cell('library_encode_batch')} | {cell('library_encode_loop')} | "
                    f"{cell('ember')} | {r['ratio_vs_encode_batch']:.2f}x | {r['ratio_vs_encode_loop']:.2f}x |")
    table = "\n".join(rows) + "\n"
    out.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
