#!/usr/bin/env bash
# Soak: overload `ember serve` and check that it degrades the way it should.
#
#   bash scripts/soak.sh [--duration S] [--ember BIN] [--out DIR] [--model M] [--max-queue N]
#
# 1. starts a server (result cache off, bounded queue) on a free port;
# 2. finds the sustainable rate: closed-loop max throughput (`ember loadtest --users 8`);
# 3. drives open-loop Poisson arrivals at twice that rate for --duration seconds (default 300),
#    sampling the server's VmRSS (/proc/PID/status) every 2 s;
# 4. checks: no 5xx (client side and in the server's /metrics), no crash (the process is alive
#    and /health answers 200 at the end), 429s were answered (the queue was full), VmRSS at the
#    end within 10% of VmRSS after the first 20% of the run (the warm-up), and a clean exit 0
#    on SIGTERM. Writes summary.json, open.csv, closed.csv and rss.csv into --out; exits 1 if
#    a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=300
ember=build/src/cli/ember
out=build/soak
model=all-MiniLM-L6-v2
max_queue=32
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --ember) ember="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --max-queue) max_queue="$2"; shift 2 ;;
    *) echo "soak: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$ember" ] || { echo "soak: no ember binary at $ember (build first or pass --ember)" >&2; exit 2; }
mkdir -p "$out"

"$ember" serve --model "$model" --port 0 --grpc-port 0 --cache-entries 0 --max-queue "$max_queue" \
  --request-timeout-ms 5000 >"$out/server.out" 2>"$out/server.err" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 600); do
  [ -s "$out/server.out" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$out/server.err" >&2; exit 1; }
  sleep 0.1
done
port=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["port"])' "$out/server.out")
url="http://127.0.0.1:$port"
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }

echo "soak: server pid $pid on $url; finding the sustainable rate (closed loop, 8 users)"
"$ember" loadtest "$url" --users 8 --duration 10 --warmup 3 --csv "$out/closed.csv" >/dev/null
sustainable=$(python3 -c 'import csv,sys; print(float(next(csv.DictReader(open(sys.argv[1])))["throughput_rps"]))' "$out/closed.csv")
rate=$(python3 -c "print(round(2 * $sustainable, 1))")
echo "soak: sustainable ${sustainable} req/s; driving ${rate} req/s (open loop) for ${duration} s"

echo "t_s,vmrss_kb" >"$out/rss.csv"
"$ember" loadtest "$url" --rates "$rate" --duration "$duration" --warmup 0 --timeout-ms 20000 \
  --csv "$out/open.csv" >/dev/null &
load=$!
start=$(date +%s.%N)
while kill -0 "$load" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || break
  echo "$(python3 -c "import time; print(round(time.time() - $start, 1))"),$(rss_kb)" >>"$out/rss.csv"
  sleep 2
done
load_rc=0
wait "$load" || load_rc=$?
alive=0; kill -0 "$pid" 2>/dev/null && alive=1
health=$(curl -s -o /dev/null -w '%{http_code}' "$url/health" || true)
curl -s "$url/metrics" >"$out/metrics.txt" || true
exit_rc=-1
if [ "$alive" = 1 ]; then
  kill -TERM "$pid"
  exit_rc=0; wait "$pid" || exit_rc=$?
fi
trap - EXIT

python3 - "$out" "$duration" "$sustainable" "$rate" "$alive" "$health" "$exit_rc" "$load_rc" <<'PY'
import csv, json, re, sys
out, duration, sustainable, rate, alive, health, exit_rc, load_rc = sys.argv[1:]
step = next(csv.DictReader(open(f"{out}/open.csv")))
rss = [(float(r["t_s"]), int(r["vmrss_kb"])) for r in csv.DictReader(open(f"{out}/rss.csv")) if r["vmrss_kb"]]
warm_t = 0.2 * float(duration)
warm = next((kb for t, kb in rss if t >= warm_t), rss[-1][1])
end = rss[-1][1]
server_5xx = sum(int(n) for s, n in re.findall(r'^ember_http_requests_total\{route="[^"]*",status="(5\d\d)"\} (\d+)$',
                                                 open(f"{out}/metrics.txt").read(), re.M))
checks = {
    "no 5xx seen by the client": int(step["errors_5xx"]) == 0,
    "no 5xx counted by the server": server_5xx == 0,
    "429s answered (queue full)": int(step["errors_429"]) > 0,
    "server alive at the end": alive == "1",
    "/health 200 at the end": health == "200",
    "VmRSS at the end within 10% of after warm-up": abs(end - warm) <= 0.10 * warm,
    "exit 0 on SIGTERM": exit_rc == "0",
    "load generator exit 0": load_rc == "0",
}
summary = {"duration_s": float(duration), "sustainable_rps": float(sustainable), "offered_rps": float(rate),
           "open_loop": step, "vmrss_kb_after_warmup": warm, "vmrss_kb_end": end,
           "vmrss_kb_max": max(kb for _, kb in rss), "server_5xx": server_5xx, "checks": checks}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
for name, ok in checks.items():
    print(f"soak: {'ok  ' if ok else 'FAIL'} {name}")
print(f"soak: offered {rate} req/s, answered {step['throughput_rps']} req/s 2xx, "
      f"{step['errors_429']} x 429, p50 {step['p50_ms']} ms, p99 {step['p99_ms']} ms; "
      f"VmRSS {warm} kB after warm-up -> {end} kB at the end")
sys.exit(0 if all(checks.values()) else 1)
PY
