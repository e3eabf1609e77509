#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for FUZZ_SECONDS
# (default 30) on its seed corpus. A crash fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
echo "fuzz: building targets with clang into build-fuzz"
mkdir -p build-fuzz
log=build-fuzz/build.log
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEMBER_FUZZ=ON -DEMBER_BUILD_TESTS=OFF -DEMBER_BUILD_BENCH=OFF >"$log" 2>&1 ||
  { tail -n 40 "$log"; exit 1; }
targets=()
for src in fuzz/*.cc; do targets+=("fuzz_$(basename "$src" .cc)"); done
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]}" >>"$log" 2>&1 ||
  { tail -n 40 "$log"; exit 1; }
for name in "${targets[@]}"; do
  target="build-fuzz/fuzz/$name"
  corpus_seed="fuzz/corpus/${name#fuzz_}"
  work="build-fuzz/corpus/${name#fuzz_}"
  mkdir -p "$work"
  echo "fuzz: $name for ${FUZZ_SECONDS}s"
  seeds=(); [ -d "$corpus_seed" ] && seeds=("$corpus_seed")
  "$target" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$work" "${seeds[@]}" 2>&1 | tail -n 4
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz: $name FAILED"; exit 1; }
done
echo "fuzz: all targets ran clean"
