#!/usr/bin/env bash
# Configures and builds Ember (Release, warnings as errors) into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
echo "build: configuring $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMBER_WERROR=ON "$@" >/dev/null
echo "build: compiling ($(nproc) jobs)"
cmake --build "$BUILD_DIR" -j "$(nproc)"
