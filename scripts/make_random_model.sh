#!/usr/bin/env bash
# Random-weight bert-base-uncased / distilbert-base-uncased in the model cache, for speed
# measurements (see scripts/make_random_model.py). Installs numpy + safetensors into .venv-bench
# (or uses .venv when it already has them); idempotent.
#
#   scripts/make_random_model.sh [--cache DIR] [--force] [NAME...]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pins=(numpy==2.4.6 safetensors==0.8.0)
has_deps() { "$1" -c 'import numpy, safetensors' 2>/dev/null; }

py=""
for venv in "$repo/.venv-bench" "$repo/.venv"; do
  if [[ -x "$venv/bin/python" ]] && has_deps "$venv/bin/python"; then
    py="$venv/bin/python"
    break
  fi
done
if [[ -z "$py" ]]; then
  venv="$repo/.venv-bench"
  [[ -x "$venv/bin/python" ]] || "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "${pins[@]}"
  py="$venv/bin/python"
fi
exec "$py" "$repo/scripts/make_random_model.py" "$@"
