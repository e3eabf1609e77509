#!/usr/bin/env bash
# infinity_emb (PyPI) in its own venv, .venv-infinity, for bench/serve/compare_servers.sh.
# PyTorch and transformers are large: if the reference venv (scripts/make_reference.sh's,
# $REFERENCE_VENV or ~/.cache/ember/venv-reference) exists, its site-packages are appended to this venv's path (a .pth file) so pip reuses its
# torch / transformers / sentence-transformers instead of downloading them again.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.venv-infinity
ref="${REFERENCE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ember/venv-reference}"
python3 -m venv "$venv"
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ -d "$ref" ]; then
  ref_site=$("$ref/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$ref_site" >"$site/ref-venv.pth"
fi
"$venv/bin/pip" install -q --upgrade pip
# infinity_emb 0.0.78's torch engine wants sentence-transformers < 4 (so transformers < 5) and
# numpy < 2: those go into this venv and shadow the reference venv's newer ones; torch is reused.
"$venv/bin/pip" install -q "infinity-emb[server,torch]==0.0.78" "sentence-transformers>=3.0.1,<4" \
  "transformers>=4.47,<5"
"$venv/bin/infinity_emb" v2 --help >/dev/null
echo "setup_infinity: $venv ready ($("$venv/bin/pip" show infinity-emb | grep ^Version))"
