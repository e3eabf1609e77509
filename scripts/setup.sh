#!/usr/bin/env bash
# Installs what Ember needs on a fresh Debian 12 machine, then fetches the models.
# Idempotent: installs only what is missing, and says what it does.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  clang-14 libclang-rt-14-dev             # libFuzzer targets
  libdnnl-dev                             # GEMM (oneDNN, chosen by measurement: docs/gemm.md)
  libopenblas-dev                         # the GEMM we measured oneDNN against
  nlohmann-json3-dev libcli11-dev libutf8proc-dev
  libonnx-dev libprotobuf-dev protobuf-compiler  # ONNX initializer import
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-venv python3-pip curl unzip
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages present"
fi

bash scripts/fetch_models.sh
