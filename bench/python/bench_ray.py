"""Ray Data throughput of ember.integrations.ray.EmberEmbedder: all 23,703 VADER sentences
embedded with all-MiniLM-L6-v2 through Dataset.map_batches on a local Ray cluster
(ray.cluster_utils.Cluster: --nodes nodes of --cpus-per-node CPUs), with 1 and 2 actors (one
CPU and one compute thread each), in interleaved rounds; with --baseline, also a plain
Encoder(threads=1).encode of the same sentences in the driver, in the same rounds.

Wall time counts the whole map_batches run: actors starting and loading the model, embedding,
and the rows coming back to the driver (every row once, in order, is checked). Runs in the
venv of scripts/test_python.sh (Ray and the ember wheel installed):

  build/venv-python/bin/python bench/python/bench_ray.py --baseline \\
      --out bench/results/DATE-ray-data-vader.json
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SOURCE / "tests" / "python"))

import ray  # noqa: E402
import ray.cluster_utils  # noqa: E402
import ray.data  # noqa: E402

import ember  # noqa: E402
from ember.integrations.ray import EmberEmbedder  # noqa: E402
from vader import load_sentences  # noqa: E402


def run_ray(sentences, actors: int, args) -> float:
    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(sentences)],
                             override_num_blocks=args.blocks)
    start = time.perf_counter()
    out = ds.map_batches(EmberEmbedder,
                         fn_constructor_kwargs={"model": args.model,
                                                "encode_batch_size": args.encode_batch_size},
                         compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=1,
                         batch_size=args.batch_size, batch_format="numpy")
    ids, rows = [], 0
    for batch in out.iter_batches(batch_size=4096, batch_format="numpy"):
        ids.extend(batch["id"].tolist())
        rows += len(batch["embedding"])
    seconds = time.perf_counter() - start
    if ids != list(range(len(sentences))) or rows != len(sentences):
        raise SystemExit(f"{actors} actors: rows missing, repeated or out of order")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--cpus-per-node", type=int, default=1)
    ap.add_argument("--actors", default="1,2", help="actor counts, comma-separated")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="first N sentences only (0: all)")
    ap.add_argument("--blocks", type=int, default=48, help="dataset blocks")
    ap.add_argument("--batch-size", type=int, default=256, help="map_batches batch_size")
    ap.add_argument("--encode-batch-size", type=int, default=64)
    ap.add_argument("--baseline", action="store_true",
                    help="also time Encoder(threads=1).encode in the driver")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    sentences = load_sentences()
    if args.limit:
        sentences = sentences[:args.limit]
    actor_counts = [int(a) for a in args.actors.split(",")]
    results = {str(a): [] for a in actor_counts}
    baseline = []

    node = {"num_cpus": args.cpus_per_node, "object_store_memory": 300 * 1024 * 1024}
    cluster = ray.cluster_utils.Cluster(initialize_head=True,
                                        head_node_args=dict(node, include_dashboard=False))
    try:
        for _ in range(args.nodes - 1):
            cluster.add_node(**node)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
        ray.data.DataContext.get_current().execution_options.preserve_order = True
        ray.data.DataContext.get_current().enable_progress_bars = False
        for r in range(args.rounds):
            for a in actor_counts:
                s = run_ray(sentences, a, args)
                results[str(a)].append(s)
                print(f"round {r}: {a} actor(s): {s:.1f} s, {len(sentences) / s:.0f} rows/s",
                      flush=True)
            if args.baseline:
                enc = ember.Encoder(args.model, threads=1)
                start = time.perf_counter()
                enc.encode(sentences, batch_size=args.encode_batch_size)
                s = time.perf_counter() - start
                baseline.append(s)
                print(f"round {r}: Encoder(threads=1): {s:.1f} s, {len(sentences) / s:.0f} rows/s",
                      flush=True)
                del enc
    finally:
        ray.shutdown()
        cluster.shutdown()

    def summary(times):
        best = min(times)
        return {"seconds": times, "best_seconds": best, "rows_per_s": len(sentences) / best}

    report = {
        "bench": "ray-data-embedder",
        "model": args.model,
        "rows": len(sentences),
        "cluster": {"nodes": args.nodes, "cpus_per_node": args.cpus_per_node},
        "map_batches": {"batch_size": args.batch_size, "blocks": args.blocks,
                        "encode_batch_size": args.encode_batch_size,
                        "threads_per_actor": 1},
        "actors": {a: summary(t) for a, t in results.items()},
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor(),
                    "loadavg_at_end": os.getloadavg()},
        "ray": ray.__version__,
        "command": " ".join(sys.argv),
    }
    if baseline:
        report["encoder_threads_1"] = summary(baseline)
    if len(actor_counts) >= 2 and "1" in results and "2" in results:
        report["speedup_2_over_1"] = min(results["1"]) / min(results["2"])
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
