#!/usr/bin/env bash
# Regenerate Ember's reference fixtures (tests/fixtures/models/tiny-*, tests/fixtures/reference)
# with the pinned Hugging Face stack.
#
#   scripts/make_reference.sh [--retrain-tokenizer] [--skip-models]
#
# Environment:
#   REFERENCE_VENV   venv to create / reuse (default: ~/.cache/ember/venv-reference)
#   PYTHON           interpreter used to create it (default: python3; 3.10-3.13)
#   TORCH_INDEX_URL  optional extra index for torch, e.g. https://download.pytorch.org/whl/cpu
#                    to avoid PyPI's CUDA wheels
#
# An existing venv is reused only when its installed versions match the pins; otherwise the
# pins are installed into it. Runs single-threaded (the script sets torch/OMP/rayon to 1).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
req="$repo/scripts/requirements-reference.txt"
venv="${REFERENCE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ember/venv-reference}"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
  echo "creating venv $venv" >&2
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi

# Install the pins unless every one is already satisfied exactly.
if ! "$venv/bin/python" - "$req" <<'PY'
import sys, re
from importlib.metadata import version, PackageNotFoundError
ok = True
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, want = re.split(r"==", line)
    try:
        have = version(name).split("+")[0]
    except PackageNotFoundError:
        have = None
    if have != want:
        print(f"{name}: have {have}, want {want}", file=sys.stderr)
        ok = False
sys.exit(0 if ok else 1)
PY
then
  extra=()
  if [[ -n "${TORCH_INDEX_URL:-}" ]]; then extra=(--extra-index-url "$TORCH_INDEX_URL"); fi
  "$venv/bin/python" -m pip install "${extra[@]}" -r "$req"
fi

command -v msgunfmt >/dev/null || echo "note: gettext not installed; only needed to inspect the corpus (the script reads .mo files itself)" >&2

cd "$repo"
exec "$venv/bin/python" scripts/make_reference.py "$@"
