#!/usr/bin/env bash
# The main job on the embedded default store: pack the sample model, inspect it, unpack it,
# and show that the unpacked files are the packed ones. Uses a throwaway MODELARK_HOME
# unless one is set.
set -euo pipefail
cd "$(dirname "$0")/.."
modelark=${MODELARK:-target/release/modelark}
export MODELARK_HOME=${MODELARK_HOME:-$(mktemp -d)}
out=$(mktemp -d)/tiny-sentiment

step() { printf '\n$ %s\n' "$*"; "$@"; }
step "$modelark" pack testdata/tiny-sentiment -t tiny-sentiment:1.0.0
step "$modelark" inspect tiny-sentiment:1.0.0
step "$modelark" list
step "$modelark" unpack tiny-sentiment:1.0.0 -o "$out"
step diff -r testdata/tiny-sentiment "$out"
echo
echo "unpacked files match testdata/tiny-sentiment (store: $MODELARK_HOME)"
