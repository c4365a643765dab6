#!/bin/sh
# End-to-end smoke tests of the sharesnet command-line tool: help texts,
# devices, selftest, info, and train / eval / predict / resume on a tiny IDX
# dataset and PNG written here, plus the error paths (non-zero exit and a
# message naming the problem on stderr).
#
# usage: test_cli.sh PATH/TO/sharesnet [python3 [refuse_compile.so]]
# With the third argument (tests/cli/refuse_compile.c, preloaded: a driver
# that cannot compile OpenCL C, as an FPGA's) the tool also runs selftest,
# train, eval and predict from an offline binary alone.
# The device is $SN_TEST_DEVICE, else "cpu" (as the device tests).
# Prints one line per check and ends with "N passed, M failed".

SN=${1:?usage: test_cli.sh PATH/TO/sharesnet [python3]}
PY=${2:-python3}
REFUSE=${3:-}
DEV=${SN_TEST_DEVICE:-cpu}
# Absolute: some checks run from another directory (runs/ of a run without --out).
case $SN in /*) ;; *) SN=$(pwd)/$SN ;; esac
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sn_cli_XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
OUT="$TMP/stdout"
ERR="$TMP/stderr"
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() {
    failed=$((failed + 1))
    echo "FAIL $1: $2"
    echo "  --- stdout"; sed 's/^/  /' "$OUT" | tail -n 15
    echo "  --- stderr"; sed 's/^/  /' "$ERR" | tail -n 15
}

# ok NAME PATTERN CMD...: exit 0 and stdout contains PATTERN (a fixed string).
ok() {
    name=$1 pattern=$2
    shift 2
    "$@" >"$OUT" 2>"$ERR"
    rc=$?
    if [ $rc -ne 0 ]; then
        fail "$name" "exit $rc, expected 0"
    elif ! grep -qF -- "$pattern" "$OUT"; then
        fail "$name" "stdout lacks '$pattern'"
    else
        pass "$name"
    fi
}

# bad NAME PATTERN CMD...: non-zero exit, stderr contains PATTERN, and no
# crash (a signal gives 128+).
bad() {
    name=$1 pattern=$2
    shift 2
    "$@" >"$OUT" 2>"$ERR"
    rc=$?
    if [ $rc -eq 0 ]; then
        fail "$name" "exit 0, expected an error"
    elif [ $rc -ge 128 ]; then
        fail "$name" "killed by a signal (exit $rc)"
    elif ! grep -qF -- "$pattern" "$ERR"; then
        fail "$name" "stderr lacks '$pattern'"
    else
        pass "$name"
    fi
}

# check NAME CONDITION-COMMAND...: the command succeeds (it may read the
# last command's $OUT and $ERR, which a failure shows).
check() {
    name=$1
    shift
    if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name" "check failed: $*"; fi
}

# Lines in a file, -1 when it is missing.
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo -1; fi; }

# ---- help, devices, selftest, info ------------------------------------------

ok "--help" "Commands:" "$SN" --help
cp "$OUT" "$TMP/main_help"
for cmd in devices selftest compile-kernels info train compare eval predict export import; do
    check "--help lists $cmd" grep -qF "  $cmd " "$TMP/main_help"
    ok "$cmd --help" "usage: sharesnet $cmd" "$SN" "$cmd" --help
done
ok "train --help shows --freeze-bn" "--freeze-bn" "$SN" train --help
bad "no command" "usage: sharesnet COMMAND" "$SN"
ok "devices" "P:D" "$SN" devices
ok "selftest" "selftest passed" "$SN" selftest --device "$DEV"
ok "info sharesnet20" "sharesnet20" "$SN" info sharesnet20
check "info sharesnet20 shares weights" grep -q "stage1.shared" "$OUT"
ok "info --all" "sharesnet164" "$SN" info --all
check "info --all lists the zoo" grep -q "wrn-28-10" "$OUT"

# ---- a tiny dataset: 4 patterns of 8x8 gray images in IDX files, one PNG ----

DATA="$TMP/idx"
if ! "$PY" - "$DATA" >"$OUT" 2>"$ERR" <<'PYEOF'
import os, random, struct, sys, zlib
out = sys.argv[1]
os.makedirs(out)
rng = random.Random(7)

def image(label):
    ph, ox, oy = rng.randrange(2), rng.randrange(4), rng.randrange(4)
    lo, hi = 30 + rng.randrange(50), 150 + rng.randrange(80)
    px = []
    for y in range(8):
        for x in range(8):
            on = [(y + ph) % 2, (x + ph) % 2, (x + y + ph) % 2,
                  int(ox <= x < ox + 4 and oy <= y < oy + 4)][label]
            px.append(max(0, min(255, (hi if on else lo) + rng.randrange(41) - 20)))
    return bytes(px)

def split(prefix, n):
    labels = [rng.randrange(4) for _ in range(n)]
    with open(os.path.join(out, prefix + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 8, 8))
        for label in labels:
            f.write(image(label))
    with open(os.path.join(out, prefix + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(labels))

split("train", 256)
split("t10k", 64)

def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))

rows = b"".join(b"\x00" + bytes([200 if y % 2 else 40] * 8) for y in range(8))
with open(os.path.join(out, "stripes.png"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PYEOF
then
    fail "write the dataset with $PY" "python failed"
else
    pass "write the dataset"
fi

# ---- train, eval, predict, resume -------------------------------------------

RUN="$TMP/run"
CK="$RUN/checkpoint.safetensors"
ok "train" "resnet8 epoch 1:" "$SN" train --model resnet8 --data "$DATA" --epochs 1 --batch 32 \
    --seed 3 --out "$RUN" --device "$DEV"
check "train wrote a checkpoint" test -s "$CK"
check "log.jsonl has one line" test "$(lines "$RUN/log.jsonl")" -eq 1
check "log.jsonl is JSON" "$PY" -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert [json.loads(l)["epoch"] for l in lines] == list(range(1, len(lines) + 1))' "$RUN/log.jsonl"
check "train kept the best checkpoint" test -s "$RUN/best.safetensors"
check "train names the best checkpoint" grep -qF "best test top-1: $RUN/best.safetensors" "$OUT"
check "progress shows the learning rate" grep -q "step 1/8 lr 0.1 " "$ERR"
check "progress shows the whole run's ETA" grep -qF "run ETA" "$ERR"
check "the evaluation is announced" grep -qF "resnet8 epoch 1/1: evaluating on 64 test images" "$ERR"
check "the evaluation shows progress" grep -qF "resnet8 epoch 1/1: evaluated 64/64 test images" "$ERR"
check "epoch lines show the load next to img/s" grep -q "img/s train, .* eval (load " "$OUT"
check "best.json names its epoch" grep -qF '"epoch": 1' "$RUN/best.json"
check "only the checkpoints, best.json and the log" test "$(ls "$RUN" 2>/dev/null | wc -l)" -eq 4

ok "eval" "top-1" "$SN" eval --checkpoint "$CK" --data "$DATA" --device "$DEV"
check "eval names the epoch" grep -qF "(epoch 1)" "$OUT"
check "eval shows progress" grep -qF "resnet8: evaluated 64/64 test images" "$ERR"
ok "predict" "stripes.png" "$SN" predict --checkpoint "$CK" --top 3 --device "$DEV" "$DATA/stripes.png"
check "predict ranks 3 classes" grep -q "^ *3\. " "$OUT"
ok "predict --json" '"logits"' "$SN" predict --checkpoint "$CK" --top 2 --json --device "$DEV" \
    "$DATA/stripes.png" "$DATA/stripes.png"
check "predict --json: logits, probabilities summing to 1, top-k" "$PY" -c '
import json, math, sys
doc = json.load(open(sys.argv[1]))
assert doc["model"] == "resnet8" and doc["classes"] == 10 and len(doc["predictions"]) == 2
for p in doc["predictions"]:
    z, q = p["logits"], p["probabilities"]
    assert len(z) == 10 and len(q) == 10 and abs(sum(q) - 1) < 1e-6
    m = max(z); s = sum(math.exp(v - m) for v in z)
    assert all(abs(a - math.exp(v - m) / s) < 1e-6 for a, v in zip(q, z))
    assert [t["class"] for t in p["top"]] == sorted(range(10), key=lambda k: -z[k])[:2]' "$OUT"
check "checkpoint records the sharing map" "$PY" -c '
import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
assert json.loads(json.loads(f.read(n))["__metadata__"]["sharing"]) == {}' "$CK"

ok "train --resume" "resumed resnet8" "$SN" train --resume "$CK" --data "$DATA" --epochs 2 \
    --batch 32 --out "$RUN" --device "$DEV"
check "resume keeps the run's seed" grep -qF "seed 3" "$OUT"
check "resume trains epoch 2" grep -qF "resnet8 epoch 2:" "$OUT"
check "log.jsonl has two lines" test "$(lines "$RUN/log.jsonl")" -eq 2
ok "eval --json" '"top1"' "$SN" eval --checkpoint "$CK" --data "$DATA" --json --device "$DEV"
check "eval --json is one JSON object" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["epoch"] == 2 and d["images"] == 64 and 0 <= d["top1"] <= d["top5"] <= 1' "$OUT"
ok "eval after resume" "(epoch 2)" "$SN" eval --checkpoint "$CK" --data "$DATA" --limit-test 16 \
    --device "$DEV"

# ---- a device that cannot compile: everything from the offline binary -----------
# The preloaded library refuses clCreateProgramWithSource / clCompileProgram
# (for us and for CLBlast) and logs every attempt; the cache is off, so the
# program can only come from the binary.

if [ -n "$REFUSE" ]; then
    BIN="$TMP/kernels.bin"
    REFUSED="$TMP/refused.log"
    ok "compile-kernels" "wrote $BIN" "$SN" compile-kernels --device "$DEV" -o "$BIN"
    # Under ASan (tools/sanitize.sh) the sanitizer runtime wants to be the first
    # preloaded library; the shim only adds two OpenCL entry points, so the
    # order check is turned off for these runs.
    nocompile() {
        env LD_PRELOAD="$REFUSE" SN_REFUSED_LOG="$REFUSED" SN_CACHE=0 \
            ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$@"
    }
    bad "no compiler and no binary: refused" "CL_COMPILER_NOT_AVAILABLE" nocompile "$SN" selftest \
        --device "$DEV"
    check "the refusal was the driver's" grep -q clCreateProgramWithSource "$REFUSED"
    rm -f "$REFUSED"
    ok "selftest from the binary alone" "selftest passed" nocompile env SN_KERNEL_BINARY="$BIN" \
        "$SN" selftest --device "$DEV"
    check "selftest names the binary" grep -qF "loaded from offline binary" "$OUT"
    check "selftest: no run-time compilation" grep -qF "no run-time compilation" "$OUT"
    OFF="$TMP/offline"
    ok "train from the binary alone" "resnet8 epoch 1:" nocompile env SN_KERNEL_BINARY="$BIN" \
        "$SN" train --model resnet8 --data "$DATA" --epochs 1 --batch 32 --limit-train 96 \
        --out "$OFF" --device "$DEV"
    ok "eval from the binary alone" "top-1" nocompile env SN_KERNEL_BINARY="$BIN" "$SN" eval \
        --checkpoint "$OFF/checkpoint.safetensors" --data "$DATA" --device "$DEV"
    ok "predict from the binary alone" "stripes.png" nocompile env SN_KERNEL_BINARY="$BIN" \
        "$SN" predict --checkpoint "$OFF/checkpoint.safetensors" --device "$DEV" \
        "$DATA/stripes.png"
    check "nothing to compile, nothing announced" sh -c "! grep -q 'compiling kernels' '$ERR'"
    bad "a compile is announced before it starts" "compiling kernels for" nocompile "$SN" predict \
        --checkpoint "$OFF/checkpoint.safetensors" --device "$DEV" "$DATA/stripes.png"
    rm -f "$REFUSED"
    ok "--no-runtime-compile with the binary" "selftest passed" env SN_KERNEL_BINARY="$BIN" \
        "$SN" --no-runtime-compile selftest --device "$DEV"
    check "nothing tried to compile" test ! -e "$REFUSED"
    # A damaged binary never reaches the driver: the header and checksum say no.
    head -c 2000 "$BIN" >"$TMP/truncated.bin"
    bad "truncated binary refused" "truncated" env SN_KERNEL_BINARY="$TMP/truncated.bin" \
        "$SN" selftest --device "$DEV"
    cp "$BIN" "$TMP/flipped.bin"
    printf 'X' | dd of="$TMP/flipped.bin" bs=1 seek=3000 conv=notrunc 2>/dev/null
    bad "corrupt binary refused" "checksum" env SN_KERNEL_BINARY="$TMP/flipped.bin" \
        "$SN" selftest --device "$DEV"
    head -c 4096 /dev/urandom >"$TMP/vendor.raw"
    bad "unwrapped vendor binary refused" "compile-kernels --wrap" \
        env SN_KERNEL_BINARY="$TMP/vendor.raw" "$SN" selftest --device "$DEV"
    # The vendor flow: the source for an offline compiler, then a wrapped
    # binary (here the payload of our own binary stands in for a vendor's).
    ok "emit the source" "OpenCL C source" "$SN" compile-kernels --device "$DEV" --emit-source \
        -o "$TMP/kernels.cl"
    check "the source defines the device's tile sizes" grep -q "^#define SN_GEMM_TM " \
        "$TMP/kernels.cl"
    ok "wrap a vendor binary" "wrapped vendor binary" "$SN" compile-kernels --device "$DEV" \
        --wrap "$TMP/vendor.raw" -o "$TMP/wrapped.bin"
    bad "a wrapped binary the driver rejects" "rejected by" env SN_KERNEL_BINARY="$TMP/wrapped.bin" \
        "$SN" selftest --device "$DEV"
fi

# compare creates its nested output directories (DIR/MODEL/)
NEST="$TMP/nested/compare"
ok "compare into a new nested --out" "| sharesnet8" "$SN" compare --models resnet8,sharesnet8 \
    --data "$DATA" --epochs 1 --batch 32 --out "$NEST" --device "$DEV"
check "compare wrote each model's checkpoint" test -s "$NEST/sharesnet8/checkpoint.safetensors"
check "sharesnet8's sharing map is empty (one block per stage)" "$PY" -c '
import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
assert json.loads(f.read(n))["__metadata__"]["sharing"] == "{}"' "$NEST/sharesnet8/checkpoint.safetensors"
check "compare says where its results went" grep -qF "wrote $NEST/compare.md" "$OUT"
for f in compare.md compare.csv epochs.csv compare.gnuplot; do
    check "compare wrote $f" test -s "$NEST/$f"
done
check "compare.md holds the table" grep -qF "| sharesnet8" "$NEST/compare.md"
check "epochs.csv: a line per model and epoch" test "$(lines "$NEST/epochs.csv")" -eq 3
if command -v gnuplot >/dev/null 2>&1; then
    check "compare drew compare.png" test -s "$NEST/compare.png"
fi
check "compare's speed figures name the load" grep -qF "load average" "$OUT"
check "compare's ETA covers both models" grep -qF "(model 1 of 2)" "$ERR"
check "... and says which one runs" grep -qF "(model 2 of 2)" "$ERR"

# ---- one-time work: announced as it starts, then cached ------------------------
# An empty cache: each kernel family is compiled when first used and said
# so, the conv shapes SN_TUNE=1 times are counted before the first step;
# the second run finds both in the cache and says nothing.
COLD="$TMP/cold"
cold_train() {
    env SN_CACHE_DIR="$COLD" SN_TUNE=1 "$SN" train --model resnet8 --data "$DATA" --epochs 1 \
        --batch 32 --limit-train 64 --limit-test -1 --out "$TMP/cold_run" --device "$DEV"
}
ok "train with an empty cache" "resnet8 epoch 1:" cold_train
check "the first compile names the device, the cache and the family" grep -qE \
    "^sharesnet: compiling kernels for .+ \(first run only, cached in $COLD\): [a-z_]+$" "$ERR"
check "later compiles name their family" grep -qE "^sharesnet: compiling kernels: [a-z_]+$" "$ERR"
check "the conv shapes to time are counted" grep -qE \
    "^sharesnet: tuning [0-9]+ conv shapes? for .+ \(first run only, cached in $COLD/[0-9a-f]+\.tune\)$" \
    "$ERR"
check "tuning is done before the first step" sh -c \
    "grep -E 'tuning|step 1/' '$ERR' | head -n 1 | grep -q tuning"
ok "train again" "resnet8 epoch 1:" cold_train
check "nothing compiled or timed the second time" sh -c "! grep -qE 'compiling|tuning' '$ERR'"
ok "predict with an empty cache" "stripes.png" env SN_CACHE_DIR="$TMP/cold2" "$SN" predict \
    --checkpoint "$CK" --device "$DEV" "$DATA/stripes.png"
check "predict compiles what a forward needs" grep -qE "compiling kernels.*: (conv|gemm)" "$ERR"
check "... and nothing else" sh -c "! grep -qE ': (sgd|conv_winograd|selftest)$' '$ERR'"
if [ "$DEV" = cpu ]; then
    ok "a CPU does not time by default" "resnet8 epoch 1:" env -u SN_TUNE SN_CACHE_DIR="$TMP/cold3" \
        "$SN" train --model resnet8 --data "$DATA" --epochs 1 --batch 32 --limit-train 64 \
        --limit-test -1 --out "$TMP/cold_run3" --device "$DEV"
    check "... so nothing is announced as tuning" sh -c "! grep -q 'tuning' '$ERR'"
fi

RUN2="$TMP/run2"
ok "train --policy stage" "resnet8 epoch 1:" "$SN" train --model resnet8 --policy stage \
    --data "$DATA" --epochs 1 --batch 32 --limit-test -1 --out "$RUN2" --device "$DEV"
ok "resume keeps the sharing policy" "policy stage" "$SN" train --resume \
    "$RUN2/checkpoint.safetensors" --data "$DATA" --epochs 2 --batch 32 --limit-test -1 \
    --out "$RUN2" --device "$DEV"

# Without --out a run goes to a new runs/MODEL-N of the working directory.
in_tmp() { (cd "$TMP" && "$@"); }
ok "train --freeze-bn --accum 2" "sharesnet14 epoch 1:" in_tmp "$SN" train --model sharesnet14 \
    --data "$DATA" --epochs 1 --batch 16 --accum 2 --freeze-bn --limit-train 64 \
    --limit-test -1 --device "$DEV"
check "train without --out says where it writes" grep -qF "no --out: writing checkpoints and the log to runs/sharesnet14-1/" "$OUT"
check "train without --out saved its checkpoint" test -s "$TMP/runs/sharesnet14-1/checkpoint.safetensors"
ok "a second run without --out" "runs/sharesnet14-2/" in_tmp "$SN" train --model sharesnet14 \
    --data "$DATA" --epochs 1 --batch 16 --limit-train 32 --limit-test -1 --device "$DEV"

# ---- mistakes caught before the work ------------------------------------------
# Each is refused at once, before data, device or training, with a hint.

bad "unknown option: did you mean" "did you mean --epochs?" "$SN" train --epoch 3
bad "one-dash option: did you mean" "did you mean --epochs?" "$SN" train -epochs 3
for cmd in devices selftest compile-kernels train compare eval tune; do
    bad "$cmd refuses a stray argument" "unexpected argument 'stray'" "$SN" "$cmd" stray
done
bad "info takes one model" "unexpected argument 'resnet8'" "$SN" info resnet20 resnet8
bad "compare: a space-separated list" "unexpected argument 'sharesnet8'" "$SN" compare \
    --models resnet8 sharesnet8 --data "$DATA" --device "$DEV"
bad "unknown model: did you mean" "did you mean 'sharesnet20'?" "$SN" info sharesnet2O
bad "unknown command: did you mean" "did you mean 'train'?" "$SN" trian
ok "--version" "sharesnet " "$SN" --version
bad "compare: a bad name fails before training" "did you mean 'sharesnet8'?" "$SN" compare \
    --models resnet8,sharesnet8O --data "$DATA" --epochs 1 --batch 32 --device "$DEV"
check "compare: nothing was trained" sh -c "! grep -q 'epoch 1' '$OUT' '$ERR'"
bad "compare: a model listed twice" "lists resnet8 twice" "$SN" compare --models resnet8,resnet8 \
    --data "$DATA" --device "$DEV"
bad "tradeoff: a bad family fails before training" "did you mean" "$SN" bench tradeoff \
    --family resnet2O --data "$DATA" --epochs 1 --batch 32 --device "$DEV"
check "tradeoff: nothing was trained" sh -c "! grep -q 'epoch 1' '$OUT' '$ERR'"
bad "tradeoff refuses a stray argument" "unexpected argument 'x'" "$SN" bench tradeoff x
bad "tradeoff: a bad --peer fails before training" "--peer" "$SN" bench tradeoff --peer maybe \
    --data "$DATA" --epochs 1 --batch 32 --device "$DEV"
check "tradeoff --peer: nothing was trained" sh -c "! grep -q 'epoch 1' '$OUT' '$ERR'"
bad "dataset name: the known names" "the known names are: fashion-mnist" "$SN" train \
    --model resnet8 --data fmnist
bad "dataset name: did you mean" "did you mean 'fashion-mnist'?" "$SN" train --model resnet8 \
    --data fasion-mnist
bad "--milestones must increase" "--milestones must increase" "$SN" train --model resnet8 \
    --data "$DATA" --epochs 6 --milestones 5,2
bad "eval: a run directory as --checkpoint" "did you mean --checkpoint $RUN/best.safetensors" \
    "$SN" eval --checkpoint "$RUN" --data "$DATA" --device "$DEV"
bad "resume: a run directory" "did you mean --resume $RUN/checkpoint.safetensors" "$SN" train \
    --resume "$RUN" --data "$DATA" --device "$DEV"
"$PY" - "$TMP/big.png" <<'PYEOF'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
rows = b"".join(b"\x00" + bytes([200 if y % 2 else 40] * 16) for y in range(16))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n"
    + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 0, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PYEOF
ok "predict an image of another size" "big.png" "$SN" predict --checkpoint "$CK" --device "$DEV" \
    "$TMP/big.png"
check "predict says the image is cropped to the model's input" grep -qF \
    "is 16x16, resnet8 takes 8x8: center-cropped" "$ERR"
CLS="$TMP/classes12"
ok "train a 12-class model" "resnet8 epoch 1:" "$SN" train --model resnet8 --classes 12 \
    --data "$DATA" --epochs 1 --batch 32 --limit-train 32 --limit-test -1 --out "$CLS" \
    --device "$DEV"
bad "eval: the data's classes differ from the model's" "has 10 classes, but" "$SN" eval \
    --checkpoint "$CLS/checkpoint.safetensors" --data "$DATA" --device "$DEV"
for cmd in compare "bench tradeoff"; do
    ok "$cmd --help" "usage:" "$SN" $cmd --help
    check "$cmd --help: no --resume" sh -c "! grep -q -- resume '$OUT'"
done

# ---- errors ---------------------------------------------------------------------

bad "unknown command" "unknown command 'frobnicate'" "$SN" frobnicate
bad "unknown option" "unknown option '--bogus'" "$SN" train --bogus
bad "option without its value" "needs a value" "$SN" train --model
bad "malformed number" "--epochs expects an integer" "$SN" train --model resnet8 --data "$DATA" \
    --epochs abc
bad "bad --device" "nosuchdevice" "$SN" train --model resnet8 --data "$DATA" --device nosuchdevice
bad "missing --data" "needs --data" "$SN" train --model resnet8
bad "missing --model" "needs --model" "$SN" train --data "$DATA"
bad "unknown model" "unknown model 'resnet9'" "$SN" train --model resnet9 --data "$DATA" \
    --device "$DEV"
bad "nonexistent data" "$TMP/no/such/data" "$SN" train --model resnet8 --data "$TMP/no/such/data" \
    --device "$DEV"
bad "eval without a checkpoint" "needs --checkpoint" "$SN" eval --data "$DATA"
bad "missing checkpoint" "$TMP/none.safetensors" "$SN" eval --checkpoint "$TMP/none.safetensors" \
    --data "$DATA" --device "$DEV"
head -c 4096 /dev/urandom >"$TMP/garbage.safetensors"
bad "corrupt checkpoint" "garbage.safetensors" "$SN" eval --checkpoint "$TMP/garbage.safetensors" \
    --data "$DATA" --device "$DEV"
head -c 1000 "$CK" >"$TMP/truncated.safetensors" 2>/dev/null
bad "truncated checkpoint" "truncated.safetensors" "$SN" eval \
    --checkpoint "$TMP/truncated.safetensors" --data "$DATA" --device "$DEV"
bad "resume into another model" "holds resnet8" "$SN" train --model sharesnet8 --resume "$CK" \
    --data "$DATA" --device "$DEV"
bad "resume with nothing left to train" "nothing to train" "$SN" train --resume "$CK" \
    --data "$DATA" --epochs 2 --device "$DEV"
bad "predict a missing image" "$TMP/none.png" "$SN" predict --checkpoint "$CK" \
    --device "$DEV" "$TMP/none.png"
bad "export without a format" "--format onnx|torch" "$SN" export "$CK" -o "$TMP/x.onnx"
bad "export to an unknown format" "--format must be onnx or torch" "$SN" export "$CK" \
    --format tflite -o "$TMP/x"
bad "export a missing checkpoint" "$TMP/none.safetensors" "$SN" export "$TMP/none.safetensors" \
    --format onnx -o "$TMP/x.onnx" --device "$DEV"
bad "export with unknown names" "--names must be torchvision or pytorchcv" "$SN" export "$CK" \
    --format torch --names keras -o "$TMP/x"
ok "export --format onnx" "exported resnet8" "$SN" export "$CK" --format onnx -o "$TMP/r8.onnx" \
    --device "$DEV"
ok "export --format torch" "exported resnet8" "$SN" export "$CK" --format torch \
    -o "$TMP/r8.safetensors" --device "$DEV"
ok "import what export wrote" "pytorchcv names" "$SN" import "$TMP/r8.safetensors" \
    --model resnet8 --size 8 -o "$TMP/r8_imported.safetensors" --device "$DEV"
bad "import a file that is not safetensors" "garbage.safetensors" "$SN" import \
    "$TMP/garbage.safetensors" --model resnet8 -o "$TMP/x" --device "$DEV"
bad "import without --model" "needs one FILE, --model M" "$SN" import "$CK" -o "$TMP/x"
bad "--init and --resume together" "not both" "$SN" train --init "$CK" --resume "$CK" \
    --data "$DATA"
bad "predict without images" "at least one image" "$SN" predict --checkpoint "$CK"
bad "out-of-range number" "--batch 4294967312 is out of range" "$SN" train --model resnet8 \
    --data "$DATA" --batch 4294967312 --device "$DEV"
bad "negative --limit-train" "--limit-train must be >= 0" "$SN" train --model resnet8 \
    --data "$DATA" --limit-train -5 --device "$DEV"
bad "negative --warmup" "warm-up -3" "$SN" train --model resnet8 --data "$DATA" --warmup -3 \
    --device "$DEV"
bad "eval with a negative limit" "--limit-test >= 0" "$SN" eval --checkpoint "$CK" \
    --data "$DATA" --limit-test -7 --device "$DEV"
touch "$TMP/a-file"
bad "--out is a file" "$TMP/a-file" "$SN" train --model resnet8 --data "$DATA" --epochs 1 \
    --batch 32 --out "$TMP/a-file" --device "$DEV"
check "--out is a file: no epoch was trained" sh -c "! grep -q 'epoch 1:' '$OUT'"
bad "resume cannot change the policy" "--policy cannot change a resumed run" "$SN" train \
    --resume "$CK" --policy paper --data "$DATA" --epochs 9 --device "$DEV"

# ---- checkpoints that parse but must not be used (issue 15) --------------------

# edit_checkpoint SRC DST KEY VALUE: copy a checkpoint with one metadata entry
# changed (the header is rewritten, the data area kept).
edit_checkpoint() {
    "$PY" - "$@" <<'PYEOF'
import json, struct, sys
src, dst, key, value = sys.argv[1:5]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
header["__metadata__"][key] = value
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(dst, "wb").write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
PYEOF
}

# max_rss_kib CMD...: run CMD (stdout/stderr to $OUT/$ERR), print its peak
# resident memory in KiB, exit with its status.
max_rss_kib() {
    "$PY" -c '
import resource, subprocess, sys
with open(sys.argv[1], "w") as out, open(sys.argv[2], "w") as err:
    rc = subprocess.call(sys.argv[3:], stdout=out, stderr=err)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$OUT" "$ERR" "$@"
}

# A std of 0 in the metadata: predict divided by it; every reader refuses it.
edit_checkpoint "$CK" "$TMP/std0.safetensors" norm_std 0
bad "predict refuses a norm_std of 0" "norm_std" "$SN" predict \
    --checkpoint "$TMP/std0.safetensors" --device "$DEV" "$DATA/stripes.png"
bad "eval refuses a norm_std of 0" "norm_std" "$SN" eval --checkpoint "$TMP/std0.safetensors" \
    --data "$DATA" --device "$DEV"
bad "resume refuses a norm_std of 0" "norm_std" "$SN" train --resume "$TMP/std0.safetensors" \
    --data "$DATA" --epochs 9 --device "$DEV"

# Finite weights that overflow (the fc weight at 3e38): the logits are not
# finite, which must count as misses (top-1 was 100%) and fail the command.
"$PY" - "$CK" "$TMP/overflow.safetensors" <<'PYEOF'
import json, struct, sys
raw = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack("<Q", raw[:8])[0]
e = json.loads(raw[8:8 + n])["head.fc.weight"]
b, end = e["data_offsets"]
raw[8 + n + b:8 + n + end] = struct.pack("<f", 3e38) * ((end - b) // 4)
open(sys.argv[2], "wb").write(raw)
PYEOF
bad "eval of an overflowing model fails" "loss is" "$SN" eval \
    --checkpoint "$TMP/overflow.safetensors" --data "$DATA" --device "$DEV"
check "eval of an overflowing model scores no hits" grep -qF "top-1 0.00%  top-5 0.00%" "$OUT"

# A PNG class folder named with a newline: class names travel newline-
# separated in checkpoints, so it used to become two names and shift "c"
# out of place; now it is kept as "a?b".
PNGS="$TMP/pngs"
for split in train test; do
    for cls in "a
b" c; do
        mkdir -p "$PNGS/$split/$cls"
        cp "$DATA/stripes.png" "$PNGS/$split/$cls/x.png"
    done
done
ok "train on PNG folders with a newline in a class name" "resnet8 epoch 1:" "$SN" train \
    --model resnet8 --data "$PNGS" --epochs 1 --batch 2 --limit-test -1 --out "$TMP/pngrun" \
    --device "$DEV"
ok "predict names both classes" "a?b" "$SN" predict --checkpoint "$TMP/pngrun/checkpoint.safetensors" \
    --top 2 --device "$DEV" "$DATA/stripes.png"
check "predict keeps class c in its place" grep -qE "^ *[12]\. c " "$OUT"

# Metadata naming a far bigger model (a million classes: a 256 MB fc weight)
# than the tensors hold: the file is checked against the graph before any
# device memory is allocated, so the command fails small and fast.
# Compared with the same command on the real checkpoint, so that a build
# with sanitizers (bigger baseline) gives the same verdict: the fc weight
# alone would add 250 MiB.
edit_checkpoint "$CK" "$TMP/huge.safetensors" classes 1000000
base=$(max_rss_kib "$SN" eval --checkpoint "$CK" --data "$DATA" --batch 1 --device "$DEV")
limit=$((base + 131072))
rss=$(max_rss_kib "$SN" eval --checkpoint "$TMP/huge.safetensors" --data "$DATA" --batch 1 \
      --device "$DEV")
if [ $? -eq 0 ]; then
    fail "eval of a checkpoint naming a huge model" "exit 0"
elif ! grep -qF "head.fc.weight" "$ERR"; then
    fail "eval of a checkpoint naming a huge model" "stderr does not name head.fc.weight"
elif [ "$rss" -gt "$limit" ]; then
    fail "eval of a checkpoint naming a huge model" "peak memory $rss KiB (real one: $base KiB)"
else
    pass "eval of a checkpoint naming a huge model fails before allocating it ($rss KiB, real one $base KiB)"
fi
rss=$(max_rss_kib "$SN" train --resume "$TMP/huge.safetensors" --data "$DATA" --epochs 9 \
      --batch 1 --device "$DEV")
if [ $? -eq 0 ] || ! grep -qF "head.fc.weight" "$ERR" || [ "$rss" -gt "$limit" ]; then
    fail "resume of a checkpoint naming a huge model" "peak $rss KiB (eval of the real one: $base KiB)"
else
    pass "resume of a checkpoint naming a huge model fails before allocating it ($rss KiB)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
