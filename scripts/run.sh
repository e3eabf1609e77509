#!/usr/bin/env bash
# The main job: install, build, and serve Ember's default model (all-MiniLM-L6-v2) over HTTP,
# in the foreground (Ctrl-C or SIGTERM drains and exits). Extra arguments go to `ember serve`
# (e.g. --port 9000 --api-key KEY). Try it: curl localhost:8080/embed -d '{"inputs":"hi"}'
#   -H 'Content-Type: application/json'
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
echo "run: ember serve --model all-MiniLM-L6-v2 $*"
exec build/src/cli/ember serve --model all-MiniLM-L6-v2 "$@"
