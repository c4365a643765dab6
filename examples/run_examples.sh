#!/bin/sh
# Run the examples as a user would: train a tiny model (it writes its
# checkpoint and three sample images), classify the samples with that
# checkpoint, and save/load a model. Each must exit 0; predict must name
# the right class of every sample (its file name holds the class).
#
# usage: run_examples.sh BUILD_DIR/examples
set -e
BIN=${1:?usage: run_examples.sh BUILD_DIR/examples}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sn_examples_XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

"$BIN/train_tiny" "$TMP/run"
"$BIN/predict" "$TMP/run/checkpoint.safetensors" "$TMP"/run/sample_*.pgm | tee "$TMP/predicted"
for f in "$TMP"/run/sample_*.pgm; do
    class=${f##*_}
    class=${class%.pgm}
    grep -q "^$f: $class " "$TMP/predicted" || { echo "FAIL: $f predicted wrong"; exit 1; }
done
"$BIN/save_load" "$TMP/model.safetensors"
"$BIN/train_dist_loop" # alone here; tests/dist/test_dist.sh runs it on 2 ranks
echo "examples passed"
