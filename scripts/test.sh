#!/usr/bin/env bash
# The test command: install, build, run every test, then fuzz the parsers for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
echo "test: ctest"
ctest --test-dir build --output-on-failure -j "$(nproc)"
bash scripts/test_python.sh  # the wheel, in a fresh venv, and tests/python
FUZZ_SECONDS="${FUZZ_SECONDS:-30}" bash scripts/fuzz.sh
