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
  libeigen3-dev                           # ember prune: least-squares re-fit (header-only)
  nlohmann-json3-dev libcli11-dev libutf8proc-dev
  libonig-dev                             # regex engine of the tokenizers library
  libonnx-dev libprotobuf-dev protobuf-compiler  # ONNX initializer import
  libgtest-dev libgmock-dev libbenchmark-dev
  libboost-dev                            # Boost.Beast/Asio (header-only): ember serve
  libgrpc++-dev protobuf-compiler-grpc    # KServe v2 gRPC in ember serve (grpc_cpp_plugin)
  python3 python3-venv python3-pip curl unzip
  python3-dev                             # Python.h: the Python package's extension (pip install .)
  gettext                                 # msgunfmt; tokenizer corpus and fixtures (.mo text)
  unicode-data                            # NormalizationTest.txt for the tokenizer corpus
  iso-codes                               # translated country/language names: most of the corpus
  valgrind                                # callgrind profiles (docs/tokenizer.md)
  nginx iproute2                          # replicas behind nginx in network namespaces (tests/deploy)
  libminizip-dev                          # pytorch_model.bin's zip (it gives stored members' offsets: mmap)
  libhdf5-dev                             # TensorFlow/Keras tf_model.h5 checkpoints (C API)
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

# kubectl renders deploy/k8s (tests/deploy/test_k8s_manifests.py): not from Debian 12, whose
# kubernetes-client (1.20) has a kustomize (v2) too old for the base; from Kubernetes' packages.
command -v kubectl >/dev/null ||
  echo "setup: kubectl missing: tests/deploy needs it (tested with 1.32; kubernetes.io/docs/tasks/tools)"

# The Python venv for the end-to-end server tests (tests/serve/): real clients, pinned.
REQ=scripts/requirements-test.txt
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
if ! cmp -s "$REQ" .venv/requirements-test.txt; then
  echo "setup: installing test requirements into .venv ($REQ)"
  .venv/bin/pip install -q --disable-pip-version-check -r "$REQ"
  cp "$REQ" .venv/requirements-test.txt
else
  echo "setup: .venv up to date"
fi

bash scripts/fetch_models.sh
bash scripts/fetch_data.sh  # VADER sentences for the int8 accuracy test
