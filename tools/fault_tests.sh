#!/usr/bin/env bash
# Fault tests of the training run, from the outside, on the CLI:
#   1. kill -9 at random moments of a run (often inside a checkpoint write):
#      the checkpoint is always loadable, log.jsonl matches it after the
#      resume, and no temporary file is left behind;
#   2. a full disk (a file-size limit: writes fail with EFBIG): the run
#      fails naming the checkpoint, the previous checkpoint stays intact,
#      no temporary file is left;
#   3. exact resume: 1 epoch + resume to 2 gives the tensors of 2 epochs in
#      one run, bit for bit;
#   4. divergence: lr 1e30 stops with the last good checkpoint intact;
#      momentum 1e30 is refused before training.
#
#   bash tools/fault_tests.sh [KILLS]     default 10 kills; needs build/ and python3
# Prints one line per check and "N passed, M failed"; exit 1 on a failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
kills=${1:-10}
SN=$PWD/build/src/cli/sharesnet
export SN_TUNE=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sn_faults_XXXXXX")
trap 'umount "$TMP/full" 2>/dev/null; rm -rf "$TMP"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
ko() { failed=$((failed + 1)); echo "FAIL $*"; }

# A tiny IDX dataset, 4 classes of 8x8 patterns (tools/tiny_idx.py).
python3 tools/tiny_idx.py "$TMP/idx" 512 64
DATA=$TMP/idx
train() { "$SN" train --model resnet8 --data "$DATA" --batch 32 --seed 7 "$@"; }

# tensors_of FILE: a digest of every tensor's name, dtype, shape and bytes
# (the metadata holds timings, which differ between runs).
tensors_of() {
    python3 - "$1" <<'PYEOF'
import hashlib, json, struct, sys
raw = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n]); h.pop("__metadata__", None); base = 8 + n; d = hashlib.sha256()
for name in sorted(h):
    e = h[name]; b, end = e["data_offsets"]
    d.update(name.encode() + e["dtype"].encode() + str(e["shape"]).encode() + raw[base + b:base + end])
print(d.hexdigest())
PYEOF
}
epoch_of() { "$SN" eval --checkpoint "$1" --data "$DATA" --limit-test 8 2>/dev/null | sed -n 's/.*(epoch \([0-9]*\)).*/\1/p'; }

# ---- 1. kill -9 --------------------------------------------------------------
RUN=$TMP/killed
bad=0
for i in $(seq 1 "$kills"); do
    # The binary itself in the background (a shell function would put a
    # subshell between, and kill -9 would miss the trainer).
    from=()
    [ -f "$RUN/checkpoint.safetensors" ] && from=(--resume "$RUN/checkpoint.safetensors")
    "$SN" train --model resnet8 --data "$DATA" --batch 32 --seed 7 --epochs 1000 \
        --limit-test 32 --out "$RUN" "${from[@]}" >/dev/null 2>&1 &
    pid=$!
    sleep "$(python3 -c "import random; print(round(random.uniform(2.0, 6.0), 2))")"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    [ -f "$RUN/checkpoint.safetensors" ] || continue
    e=$(epoch_of "$RUN/checkpoint.safetensors")
    if [ -z "$e" ]; then bad=$((bad + 1)); echo "  kill $i: checkpoint does not load"; continue; fi
    temps=$(ls "$RUN" | grep -c '\.tmp-' || true)
    # Resume one epoch: the temporaries go, the log matches the checkpoint.
    train --resume "$RUN/checkpoint.safetensors" --epochs $((e + 1)) --limit-test 32 \
        --out "$RUN" >/dev/null 2>&1 || { bad=$((bad + 1)); echo "  kill $i: resume failed"; }
    lines=$(wc -l <"$RUN/log.jsonl")
    left=$(ls "$RUN" | grep -c '\.tmp' || true)
    echo "  kill $i: at epoch $e, $temps temporaries after the kill; resumed: $lines log lines, $left temporaries"
    if [ "$lines" -ne $((e + 1)) ] || [ "$left" -ne 0 ]; then bad=$((bad + 1)); fi
done
[ $bad -eq 0 ] && ok "kill -9 x$kills: checkpoint loads, log matches, no temporaries" \
               || ko "kill -9: $bad problems"

# ---- 2. full disk -------------------------------------------------------------
# A tmpfs just big enough for one checkpoint: the first is written, the
# second cannot be (its temporary file needs as much again) -- ENOSPC, as on
# a full disk. Mounting needs root; without it the check is skipped.
RUN=$TMP/full
mkdir -p "$RUN"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=900k tmpfs "$RUN" 2>/dev/null; then
    train --epochs 1 --limit-test -1 --out "$RUN" >/dev/null 2>&1
    before=$(tensors_of "$RUN/checkpoint.safetensors")
    train --resume "$RUN/checkpoint.safetensors" --epochs 3 --limit-test -1 --out "$RUN" \
        >"$TMP/full.out" 2>"$TMP/full.err"
    rc=$?
    after=$(tensors_of "$RUN/checkpoint.safetensors")
    left=$(ls "$RUN" | grep -c '\.tmp' || true)
    if [ $rc -ne 0 ] && grep -q "checkpoint.safetensors" "$TMP/full.err" && [ "$before" = "$after" ] \
       && [ "$left" -eq 0 ]; then
        ok "full disk: exit $rc, '$(tail -n 1 "$TMP/full.err" | head -c 200)...', previous checkpoint intact"
    else
        cat "$TMP/full.err"
        ko "full disk: exit $rc, same checkpoint: $([ "$before" = "$after" ] && echo yes || echo no), temporaries $left"
    fi
    umount "$RUN"
else
    echo "skip full disk: needs root to mount a small tmpfs"
fi

# ---- 3. exact resume ----------------------------------------------------------------
# A constant schedule: with multistep, --epochs sets the milestones, so
# "1 epoch, then to 2" would not be the same recipe as "2 epochs".
train --epochs 2 --schedule constant --limit-test -1 --out "$TMP/straight" >/dev/null 2>&1
train --epochs 1 --schedule constant --limit-test -1 --out "$TMP/resumed" >/dev/null 2>&1
train --resume "$TMP/resumed/checkpoint.safetensors" --epochs 2 --schedule constant \
    --limit-test -1 --out "$TMP/resumed" >/dev/null 2>&1
a=$(tensors_of "$TMP/straight/checkpoint.safetensors")
b=$(tensors_of "$TMP/resumed/checkpoint.safetensors")
[ "$a" = "$b" ] && ok "exact resume: 1+1 epochs == 2 epochs, every tensor bit for bit" \
                || ko "exact resume: tensors differ ($a vs $b)"

# ---- 4. divergence -------------------------------------------------------------------
RUN=$TMP/diverge
train --epochs 1 --limit-test 32 --out "$RUN" >/dev/null 2>&1
before=$(tensors_of "$RUN/checkpoint.safetensors")
train --resume "$RUN/checkpoint.safetensors" --epochs 3 --lr 1e30 --limit-test 32 \
    --out "$RUN" >/dev/null 2>"$TMP/div.err"
rc=$?
after=$(tensors_of "$RUN/checkpoint.safetensors")
if [ $rc -ne 0 ] && [ "$before" = "$after" ] && [ "$(wc -l <"$RUN/log.jsonl")" -eq 1 ] &&
   python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$RUN/log.jsonl"; then
    ok "lr 1e30: exit $rc, '$(head -c 120 "$TMP/div.err")...', checkpoint and log intact"
else
    ko "lr 1e30: exit $rc"
fi
train --epochs 1 --momentum 1e30 --out "$TMP/m" >/dev/null 2>"$TMP/mom.err"
rc=$?
[ $rc -ne 0 ] && grep -q "momentum" "$TMP/mom.err" && [ ! -e "$TMP/m/checkpoint.safetensors" ] \
    && ok "momentum 1e30 refused: '$(head -c 100 "$TMP/mom.err")'" || ko "momentum 1e30: exit $rc"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
