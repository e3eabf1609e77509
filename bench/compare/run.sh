#!/usr/bin/env bash
# The side-by-side benchmark (issue #5): prepares the Python environment (setup.sh), then
# runs compare.py with the given arguments. Environment: EMBER_COMPARE_VENV (default
# .venv-compare), EMBER_COMPARE_BASE_ENV (see setup.sh), EMBER (the ember binary).
#   bench/compare/run.sh [--grid 1x16,8x128] [--models a,b] [--engines e1,e2] [--reps N] ...
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${EMBER_COMPARE_VENV:-$repo/.venv-compare}"
"$here/setup.sh" --venv "$venv"
exec "$venv/bin/python" "$here/compare.py" "$@"
