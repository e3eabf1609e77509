#!/usr/bin/env bash
# Ember against infinity_emb on the same machine and model, measured in one run, interleaved:
#
#   bash bench/serve/compare_servers.sh [--duration S] [--users 1,4,16,64] [--reps N]
#                                       [--single-reps N] [--dtypes bf16,int8]
#
# Both servers run at once (idle when not loaded) on all-MiniLM-L6-v2 from Ember's model cache;
# each rep loads, in turn: Ember without its result cache, infinity_emb, Ember with its cache
# and a text mix with 40% repeated inputs, infinity_emb on that same mix (it has no cache). Every load is
# `ember loadtest` closed-loop user steps on the OpenAI route each server speaks
# (/v1/embeddings, infinity's /embeddings), one input per request from bench/serve/texts.txt.
# With --dtypes, each rep also loads one more Ember server per dtype (cache off, same mix):
# bf16 (`--dtype bf16`, on CPUs with avx512_bf16) and int8 (the model through `ember quantize`).
# Then Ember's single-request latency at 16 and 128 tokens and `ember bench --grid 1x16,1x128`.
# Results: bench/results/serve_compare/<UTC time>/ (CSV per load, summary.md with medians
# over reps). Needs: a build (build/src/cli/ember or $EMBER) and bench/serve/setup_infinity.sh.
# Default length: 2 reps x 4 loads x 4 steps x (10 + 2) s + latency runs + start-up (~1 min
# for infinity_emb): about 8 minutes on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=10
users=1,4,16,64
reps=2
single_reps=300
dtypes=""
ember="${EMBER:-build/src/cli/ember}"
model_dir="${EMBER_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ember/models}/all-MiniLM-L6-v2"
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --users) users="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --single-reps) single_reps="$2"; shift 2 ;;
    --dtypes) dtypes="$2"; shift 2 ;;
    *) echo "compare_servers: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$ember" ] || { echo "no ember binary at $ember" >&2; exit 2; }
[ -x .venv-infinity/bin/infinity_emb ] || { echo "run bench/serve/setup_infinity.sh first" >&2; exit 2; }
out="bench/results/serve_compare/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

"$ember" serve --model "$model_dir" --port 0 --grpc-port 0 >"$out/ember.out" 2>"$out/ember.err" &
pids+=($!)
for _ in $(seq 600); do [ -s "$out/ember.out" ] && break; sleep 0.1; done
ember_url="http://127.0.0.1:$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["port"])' "$out/ember.out")"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ember_nocache_port=$(free_port)
"$ember" serve --model "$model_dir" --port "$ember_nocache_port" --grpc-port 0 --cache-entries 0 \
  >"$out/ember-nocache.out" 2>"$out/ember-nocache.err" &
pids+=($!)
declare -A dtype_port
for dt in ${dtypes//,/ }; do
  case "$dt" in
    bf16) args=(--model "$model_dir" --dtype bf16) ;;
    int8) int8_dir=$(mktemp -d)/model-int8  # a scratch copy, not a result
          trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$(dirname "$int8_dir")"' EXIT
          "$ember" quantize --model "$model_dir" --out "$int8_dir" >"$out/quantize.log" 2>&1
          args=(--model "$int8_dir" --served-model-name all-MiniLM-L6-v2) ;;
    *) echo "compare_servers: --dtypes takes bf16 and int8, not $dt" >&2; exit 2 ;;
  esac
  dtype_port[$dt]=$(free_port)
  "$ember" serve "${args[@]}" --port "${dtype_port[$dt]}" --grpc-port 0 --cache-entries 0 \
    >"$out/ember-$dt.out" 2>"$out/ember-$dt.err" &
  pids+=($!)
done
inf_port=$(free_port)
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 INFINITY_ANONYMOUS_USAGE_STATS=0 \
  .venv-infinity/bin/infinity_emb v2 --model-id "$model_dir" --served-model-name all-MiniLM-L6-v2 \
  --engine torch --device cpu --port "$inf_port" --host 127.0.0.1 --log-level warning >"$out/infinity.log" 2>&1 &
pids+=($!)
inf_url="http://127.0.0.1:$inf_port"
for _ in $(seq 1200); do
  curl -sf "$inf_url/health" >/dev/null && curl -sf "http://127.0.0.1:$ember_nocache_port/health" >/dev/null && break
  sleep 0.25
done
curl -sf "$inf_url/health" >/dev/null || { echo "infinity_emb did not start:"; tail -20 "$out/infinity.log"; exit 1; }
for dt in ${dtypes//,/ }; do
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:${dtype_port[$dt]}/health" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:${dtype_port[$dt]}/health" >/dev/null ||
    { echo "ember serve ($dt) did not start:"; cat "$out/ember-$dt.err"; exit 1; }
done

ember_body='{"input":{{inputs}},"model":"all-MiniLM-L6-v2","truncate":true}'
inf_body='{"input":{{inputs}},"model":"all-MiniLM-L6-v2"}'
run() {  # name url route body repeat
  echo "compare: rep $rep $1"
  "$ember" loadtest "$2" --route "$3" --body "$4" --repeat "$5" --users "$users" \
    --duration "$duration" --warmup 2 --seed "$rep" --csv "$out/$1-rep$rep.csv" >/dev/null
}
for rep in $(seq 1 "$reps"); do
  run ember-nocache "http://127.0.0.1:$ember_nocache_port" /v1/embeddings "$ember_body" 0
  for dt in ${dtypes//,/ }; do
    run "ember-$dt-nocache" "http://127.0.0.1:${dtype_port[$dt]}" /v1/embeddings "$ember_body" 0
  done
  run infinity "$inf_url" /embeddings "$inf_body" 0
  run ember-cache-40pct "$ember_url" /v1/embeddings "$ember_body" 0.4
  run infinity-40pct "$inf_url" /embeddings "$inf_body" 0.4
done
echo "compare: single-request latency and engine latency"
"$ember" loadtest "http://127.0.0.1:$ember_nocache_port" --single 16,128 --reps "$single_reps" \
  --json "$out/single.json" >"$out/single.md"
"$ember" bench --model "$model_dir" --grid 1x16,1x128 --reps "$single_reps" --json "$out/engine.json" >"$out/engine.md"

python3 - "$out" <<'PY'
import csv, glob, json, os, statistics, sys
out = sys.argv[1]
rows = {}
for f in sorted(glob.glob(f"{out}/*-rep*.csv")):
    name = os.path.basename(f).rsplit("-rep", 1)[0]
    for r in csv.DictReader(open(f)):
        rows.setdefault((name, int(float(r["level"]))), []).append(r)
lines = ["| server | users | req/s (median of reps) | p50 ms | p95 ms | p99 ms | errors |", "|---|---|---|---|---|---|---|"]
for (name, users), rs in sorted(rows.items()):
    med = lambda k: statistics.median(float(r[k]) for r in rs)
    errs = sum(int(r["requests"]) - int(r["ok"]) for r in rs)
    lines.append(f"| {name} | {users} | {med('throughput_rps'):.1f} | {med('p50_ms'):.2f} | {med('p95_ms'):.2f} | {med('p99_ms'):.2f} | {errs} |")
summary = "\n".join(lines) + "\n\nSingle request (Ember, /embed token ids, cache off):\n\n" + open(f"{out}/single.md").read()
summary += "\nEngine only (`ember bench --grid 1x16,1x128`):\n\n" + open(f"{out}/engine.md").read()
open(f"{out}/summary.md", "w").write(summary)
print(summary)
PY
echo "compare: results in $out"
