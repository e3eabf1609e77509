#!/usr/bin/env bash
# The server's overhead at batch 1, two servers compared in one interleaved run:
#
#   bash bench/serve/single_overhead_ab.sh [--rounds N] [--reps N] [--client EMBER]
#        NAME_A "EMBER_A [serve flags]" NAME_B "EMBER_B [serve flags]" [NAME_C "..."]
#
# e.g. an older binary against this one, or this one with and without a serve flag:
#   bash bench/serve/single_overhead_ab.sh before "/tmp/ember-old" after "build/src/cli/ember"
#   bash bench/serve/single_overhead_ab.sh handoff "build/src/cli/ember --no-inline-idle-batch" \
#        inline "build/src/cli/ember"
#
# Every server runs at once (idle when not measured; cache off, all-MiniLM-L6-v2 from the model
# cache); each round runs `ember loadtest --single 16,128` (the --client binary, default the
# first server's) against each server in turn. Prints, per server and length, the median over
# rounds of each round's p50s: end-to-end, inference, overhead (e2e - inference), the server's
# own time outside inference and the time outside the server's clock. JSON per run in
# bench/results/single_overhead/<UTC time>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=5
reps=100
client=""
model="${EMBER_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ember/models}/all-MiniLM-L6-v2"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --client) client="$2"; shift 2 ;;
    --*) echo "single_overhead_ab: unknown argument $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -ge 4 ] && [ $(($# % 2)) -eq 0 ] || { echo "usage: see the header of $0" >&2; exit 2; }
out="bench/results/single_overhead/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
names=()
urls=()
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
while [ $# -gt 0 ]; do
  name="$1"
  read -r -a cmd <<<"$2"
  shift 2
  [ -n "$client" ] || client="${cmd[0]}"
  "${cmd[0]}" serve --model "$model" --port 0 --grpc-port 0 --cache-entries 0 "${cmd[@]:1}" \
    >"$out/$name.out" 2>"$out/$name.err" &
  pids+=($!)
  for _ in $(seq 600); do [ -s "$out/$name.out" ] && break; sleep 0.1; done
  port=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["port"])' "$out/$name.out")
  names+=("$name")
  urls+=("http://127.0.0.1:$port")
done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/load.txt"
for r in $(seq 1 "$rounds"); do
  for i in "${!names[@]}"; do
    "$client" loadtest "${urls[$i]}" --single 16,128 --reps "$reps" \
      --json "$out/${names[$i]}-round$r.json" >/dev/null
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/load.txt"
python3 - "$out" "${names[@]}" <<'PY'
import glob, json, statistics, sys
out, names = sys.argv[1], sys.argv[2:]
keys = ["e2e_p50_ms", "inference_p50_ms", "overhead_p50_ms", "server_other_p50_ms", "outside_server_p50_ms"]
lines = ["| server | tokens | rounds | e2e p50 | inference p50 | overhead p50 | server outside inference p50 | outside server timing p50 |",
         "|---|---|---|---|---|---|---|---|"]
for name in names:
    runs = [json.load(open(f))["single"] for f in sorted(glob.glob(f"{out}/{name}-round*.json"))]
    for k, s in enumerate(runs[0]):
        med = {key: statistics.median(run[k][key] for run in runs) for key in keys}
        lines.append(f"| {name} | {s['tokens']} | {len(runs)} | " + " | ".join(f"{med[key]:.3f}" for key in keys) + " |")
summary = "\n".join(lines) + "\n"
open(f"{out}/summary.md", "w").write(summary)
print(summary)
PY
echo "single_overhead_ab: results in $out"
