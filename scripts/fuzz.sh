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
  out="build-fuzz/$name.log"
  # The whole run goes to a log; on failure its end (the finding, its stack, the saved input)
  # is printed. libFuzzer exits 70 on a timeout and 77 (or the sanitizer's code) on a crash.
  rc=0
  "$target" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="build-fuzz/$name-" -print_final_stats=1 "$work" "${seeds[@]}" >"$out" 2>&1 ||
    rc=$?
  if [ "$rc" -ne 0 ]; then
    grep -v 'WARNING: AddressSanitizer failed to allocate' "$out" | tail -n 60
    echo "fuzz: $name FAILED (exit $rc); full log $out"
    exit 1
  fi
  tail -n 4 "$out"
done
echo "fuzz: all targets ran clean"
