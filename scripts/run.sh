#!/usr/bin/env bash
# The main job: install, build, and run Ember on its default model (all-MiniLM-L6-v2).
# Until `ember serve` lands, it embeds example texts and shows the model's info.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
echo "run: ember info --model all-MiniLM-L6-v2"
build/src/cli/ember info --model all-MiniLM-L6-v2
echo "run: ember embed --model all-MiniLM-L6-v2 (2 texts; first 8 dimensions shown)"
build/src/cli/ember embed --model all-MiniLM-L6-v2 --jsonl \
  "Ember puts transformer encoders into production." "A fast engine for sentence embeddings." |
  cut -c1-160
