#!/usr/bin/env bash
# The Python package (docs/python.md): builds the wheel from the checkout in the CMake tree
# that scripts/build.sh made (so only the extension compiles), installs it into a venv of its
# own with the test requirements, checks that it pulls numpy alone, and runs tests/python.
# The build tools (scikit-build-core, nanobind) come from .venv (scripts/requirements-test.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
WHEELS="$BUILD_DIR/wheel"
VENV="$BUILD_DIR/venv-python"

echo "test_python: building the wheel in $BUILD_DIR"
rm -rf "$WHEELS"
# The tree keeps its tests and benchmarks on (pyproject.toml turns them off for a plain
# `pip install .`, which builds in a temporary tree of its own).
.venv/bin/pip wheel -q --disable-pip-version-check --no-build-isolation --no-deps \
  -w "$WHEELS" --config-settings=build-dir="$BUILD_DIR" \
  --config-settings=cmake.define.EMBER_BUILD_TESTS=ON \
  --config-settings=cmake.define.EMBER_BUILD_BENCH=ON .

# The venv holds the test requirements and the wheel only; it is made afresh when the
# requirements change (LlamaIndex brings ~300 MB), and the wheel is reinstalled every run.
REQ=scripts/requirements-python.txt
if ! cmp -s "$REQ" "$VENV/requirements-python.txt"; then
  echo "test_python: creating $VENV ($REQ)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$VENV/requirements-python.txt"
fi
echo "test_python: installing the wheel into $VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps \
  "$WHEELS"/ember-*.whl
# What installing the wheel pulls into an empty environment: numpy, and no PyTorch.
"$VENV/bin/pip" install -q --disable-pip-version-check --dry-run --ignore-installed \
  --report "$WHEELS/install-report.json" "$WHEELS"/ember-*.whl
"$VENV/bin/python" - "$WHEELS/install-report.json" <<'PY'
import json, pathlib, sys
import ember
names = sorted(i["metadata"]["name"].lower() for i in json.load(open(sys.argv[1]))["install"])
assert names == ["ember", "numpy"], f"installing the wheel pulls {names}"
assert "site-packages" in pathlib.Path(ember.__file__).parts, ember.__file__
PY

echo "test_python: pytest tests/python"
EMBER_SOURCE_DIR="$PWD" "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/python
