#!/usr/bin/env bash
# Puts the real labeled data that the int8 accuracy test uses into Ember's data cache, from a
# pinned PyPI package (nothing is downloaded at run time):
#   vader/hutto_ICWSM_2014/   vadersentiment 3.3.2 (the sdist): additional_resources/
#                             hutto_ICWSM_2014.tar.gz, ~23.7k human-rated sentences (movie
#                             reviews, tweets, NYT editorials, Amazon reviews), "id TAB rating
#                             TAB text" per line (Hutto & Gilbert, ICWSM 2014)
# The sdist's sha256 is checked against the pin; vader/SOURCE records it. Idempotent.
#
# Cache: $EMBER_DATA_DIR, else $XDG_CACHE_HOME/ember/data, else ~/.cache/ember/data.
set -euo pipefail

CACHE="${EMBER_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ember/data}"
PYTHON="${PYTHON:-python3}"

VADER_PKG=vadersentiment
VADER_VER=3.3.2
VADER_SHA=5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9
VADER_FILES=(movieReviewSnippets_GroundTruth.txt tweets_GroundTruth.txt
  nytEditorialSnippets_GroundTruth.txt amazonReviewSnippets_GroundTruth.txt)

log() { echo "fetch_data: $*"; }

dir="$CACHE/vader"
ok=1
[[ -f "$dir/SOURCE" ]] && grep -qx "sha256=$VADER_SHA" "$dir/SOURCE" || ok=0
for f in "${VADER_FILES[@]}"; do [[ -s "$dir/hutto_ICWSM_2014/$f" ]] || ok=0; done
if [[ $ok == 1 ]]; then
  log "vader is up to date ($dir)"
  exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
log "downloading $VADER_PKG==$VADER_VER (sdist)"
"$PYTHON" -m pip download --quiet --no-binary :all: --no-deps "$VADER_PKG==$VADER_VER" -d "$TMP"
sdist="$(find "$TMP" -maxdepth 1 -name '*.tar.gz' | head -n 1)"
[[ -n "$sdist" ]] || { log "no sdist downloaded" >&2; exit 1; }
got="$(sha256sum "$sdist" | cut -d' ' -f1)"
if [[ "$got" != "$VADER_SHA" ]]; then
  log "sha256 mismatch for $(basename "$sdist"): got $got, pinned $VADER_SHA" >&2
  exit 1
fi
log "sha256 ok for $(basename "$sdist")"
tar -xzf "$sdist" -C "$TMP"
inner="$(find "$TMP" -path '*additional_resources/hutto_ICWSM_2014.tar.gz' | head -n 1)"
[[ -n "$inner" ]] || { log "hutto_ICWSM_2014.tar.gz not in the sdist" >&2; exit 1; }
stage="$CACHE/.staging-vader"
rm -rf "$stage"
mkdir -p "$stage"
tar -xzf "$inner" -C "$stage"
printf 'package=%s\nversion=%s\nsha256=%s\nfile=additional_resources/hutto_ICWSM_2014.tar.gz\n' \
  "$VADER_PKG" "$VADER_VER" "$VADER_SHA" >"$stage/SOURCE"
rm -rf "$dir"
mv "$stage" "$dir"
log "installed $dir"
