#!/usr/bin/env bash
# Creates the side-by-side benchmark's Python environment (default: <repo>/.venv-compare) and
# installs the pinned peers of bench/compare/requirements.txt into it. Idempotent: a stamp
# file holding the requirements' hash skips the install when nothing changed.
#
#   bench/compare/setup.sh [--venv DIR] [--base-env DIR]
#
# --base-env DIR (or $EMBER_COMPARE_BASE_ENV): layer the new venv on an existing one (its
#   site-packages go on sys.path through a .pth file), so pip installs only what that env
#   lacks. Saves the multi-GB torch download where a venv with torch already exists.
# $PYTHON: the interpreter that creates the venv (default python3; with --base-env, the base
#   env's own python, so that compiled wheels match).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/.venv-compare"
base="${EMBER_COMPARE_BASE_ENV:-}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --venv) venv="$2"; shift 2 ;;
    --base-env) base="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

req="$here/requirements.txt"
python="${PYTHON:-python3}"
[[ -n "$base" ]] && python="$base/bin/python"
stamp="$venv/.compare-stamp"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
  # Debian's python3 needs python3-venv for `-m venv` (scripts/setup.sh installs it).
  "$python" -m venv "$venv"
fi
if [[ -n "$base" ]]; then
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  base_site="$("$base/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$base_site" >"$site/ember-compare-base.pth"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$req"
echo "$want" >"$stamp"
echo "bench/compare: environment ready in $venv" >&2
