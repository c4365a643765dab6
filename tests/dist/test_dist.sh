#!/usr/bin/env bash
# Data-parallel training on 2 MPI ranks, against one process:
#   1. 2 ranks x batch 64 train as 1 process x batch 64 x --accum 2: every
#      parameter and momentum tensor within 1e-4 (relative), with normal BN
#      (running statistics are per-rank then averaged, so they differ: the
#      difference is printed) and with frozen BN (running statistics equal);
#      the last step of each epoch leaves rank 1 without a micro-batch, and
#      small buckets make many all-reduces per step;
#   2. a run of 2 ranks resumed by 1 process (same global batch) continues
#      as the 1-process run;
#   3. ranks started with different options fail at start-up, naming it;
#   4. a rank that fails alone (a bad device) ends every rank, non-zero,
#      with its message naming the rank;
#   5. kill -9 of one rank mid-run: mpirun exits non-zero within 60 s and the
#      checkpoint stays loadable;
#   6. compare on 2 ranks writes its report once; sharesnet-bench throughput
#      measures data-parallel training steps; the example loop of one's own
#      (examples/train_dist_loop.c) learns and ends with equal weights;
#   7. commands that do not train refuse to run on several ranks.
#
#   test_dist.sh SHARESNET COMPARE_CHECKPOINTS PYTHON3 [SHARESNET_BENCH [TRAIN_DIST_LOOP]]
set -uo pipefail
SN=$1 CMP=$2 PY=$3 BENCH=${4:-} LOOP=${5:-}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sn_dist_XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export SN_TUNE=0
# Under tools/sanitize.sh: Open MPI 4.1 leaks at MPI_Finalize (its op tables,
# and components it has dlclose()d, whose frames LeakSanitizer cannot name),
# so leak checking is off for the ranks; ASan and UBSan still check them.
[ -z "${ASAN_OPTIONS:-}" ] || export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
# One POCL thread per process, the 1-process runs too: POCL sizes its
# work-groups by its thread count, which changes the order of float sums
# (1e-7 apart after one step, ~1e-2 after nine on this tiny data): the runs
# compared must run the same kernels. 2 ranks then share the machine's cores.
export POCL_MAX_PTHREAD_COUNT=1
MPI=(mpirun --allow-run-as-root --oversubscribe)
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
ko() { failed=$((failed + 1)); echo "FAIL $*"; }

# A tiny IDX dataset, 4 classes of 8x8 patterns; 520 examples make 9
# batches of 64: 5 steps of 2 micro-batches, the last with one.
"$PY" "$(dirname "$0")/../../tools/tiny_idx.py" "$TMP/idx" 520 96
# Milestones given: the default ones depend on --epochs, which test 2 varies.
ARGS=(--model sharesnet20 --data "$TMP/idx" --batch 64 --seed 3 --limit-test 96 --lr 0.05
      --milestones 1,1.5)

# ---- 1. 2 ranks = 1 process with --accum 2 ----------------------------------
# Normal BN from scratch, 2 epochs of 520 examples (the last step of each
# leaves rank 1 without a micro-batch); frozen BN as it is used, fine-tuning
# the normal run's weights, one epoch of 448 examples (rank 1 idle in the
# last step too). Small buckets make several all-reduces per step.
# Why not longer fine-tuning: near a minimum the gradient is small while
# the curvature is not, so the relative difference of the momentum (about
# the last gradients) grows as H dw / |g| from the 1e-7 rounding apart of
# the weights: after a second epoch at lr 1e-4 it reached 4e-3 with the
# weights still 3e-6 apart.
for bn in normal frozen; do
    extra=(--epochs 2)
    running_tol=()
    [ $bn = frozen ] && running_tol=(1e-6) &&
        extra=(--freeze-bn --init "$TMP/one-normal/checkpoint.safetensors" --lr 0.01
               --limit-train 448 --epochs 1)
    "$SN" train "${ARGS[@]}" "${extra[@]}" --accum 2 --out "$TMP/one-$bn" \
        >"$TMP/one-$bn.log" 2>&1 || { ko "1 process, $bn BN: $(tail -3 "$TMP/one-$bn.log")"; continue; }
    "${MPI[@]}" -np 2 "$SN" train "${ARGS[@]}" "${extra[@]}" --bucket-kib 64 \
        --out "$TMP/two-$bn" >"$TMP/two-$bn.log" 2>&1 ||
        { ko "2 ranks, $bn BN: $(tail -5 "$TMP/two-$bn.log")"; continue; }
    if "$CMP" "$TMP/one-$bn/checkpoint.safetensors" "$TMP/two-$bn/checkpoint.safetensors" 1e-4 \
        "${running_tol[@]}" >"$TMP/cmp-$bn.txt"; then
        ok "2 ranks x batch 64 = 1 process x batch 64 x accum 2, $bn BN:"
        [ $bn = normal ] &&
            echo "       (running statistics: each rank's follow its own micro-batches and are averaged" &&
            echo "       at epoch ends; 1 process updates them twice per step: they differ by design)"
    else
        ko "2 ranks x batch 64 != 1 process x batch 64 x accum 2, $bn BN:"
    fi
    sed 's/^/       /' "$TMP/cmp-$bn.txt"
    grep -q "x 2 ranks" "$TMP/two-$bn.log" || ko "the 2-rank run does not say it runs on 2 ranks"
    # The same train loss on both (the figures are reduced over the ranks).
    l1=$(grep -o 'train loss [0-9.]*' "$TMP/one-$bn.log" | tail -1)
    l2=$(grep -o 'train loss [0-9.]*' "$TMP/two-$bn.log" | tail -1)
    [ -n "$l1" ] && [ "$l1" = "$l2" ] && ok "same epoch $l1 ($bn BN)" ||
        ko "epoch lines differ: '$l1' against '$l2' ($bn BN)"
done

# ---- 2. resume with another number of ranks ----------------------------------
if "${MPI[@]}" -np 2 "$SN" train "${ARGS[@]}" --epochs 1 --out "$TMP/resumed" \
        >"$TMP/r1.log" 2>&1 &&
   "$SN" train "${ARGS[@]}" --epochs 2 --accum 2 --resume "$TMP/resumed/checkpoint.safetensors" \
        >"$TMP/r2.log" 2>&1 &&
   "$CMP" "$TMP/one-normal/checkpoint.safetensors" "$TMP/resumed/checkpoint.safetensors" 1e-4 \
        >"$TMP/cmp-resume.txt"; then
    ok "1 epoch on 2 ranks resumed by 1 process with --accum 2 = 2 epochs in 1 process:"
    sed 's/^/       /' "$TMP/cmp-resume.txt"
else
    ko "resume across rank counts:"
    tail -n 3 "$TMP/r1.log" "$TMP/r2.log" "$TMP/cmp-resume.txt" 2>&1 | sed 's/^/       /'
fi

# ---- 3. mismatched options ---------------------------------------------------
out=$("${MPI[@]}" -np 1 "$SN" train "${ARGS[@]}" --epochs 1 --limit-test -1 : \
      -np 1 "$SN" train "${ARGS[@]}" --epochs 1 --limit-test -1 --seed 4 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q "ranks disagree on the run: the seed is 3 on rank 0 but 4 on rank 1" <<<"$out"; then
    ok "different --seed per rank: refused at start-up (exit $rc)"
else
    ko "different --seed per rank (exit $rc): $(tail -5 <<<"$out")"
fi

# ---- 4. one rank fails alone ---------------------------------------------------
start=$SECONDS
out=$(timeout 120 "${MPI[@]}" -np 1 "$SN" train "${ARGS[@]}" --epochs 1 --limit-test -1 : \
      -np 1 "$SN" train "${ARGS[@]}" --epochs 1 --limit-test -1 --device no-such-device 2>&1)
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "rank 1 of 2: device:" <<<"$out"; then
    ok "a bad device on rank 1 ends both ranks in $((SECONDS - start)) s (exit $rc), naming rank 1"
else
    ko "a bad device on rank 1 (exit $rc): $(tail -5 <<<"$out")"
fi

# ---- 5. kill -9 one rank mid-run ---------------------------------------------
RUN=$TMP/killed
"${MPI[@]}" -np 2 "$SN" train "${ARGS[@]}" --epochs 1000 --limit-test 32 --out "$RUN" \
    >"$TMP/kill.log" 2>&1 &
mpirun_pid=$!
for _ in $(seq 1 600); do
    [ -f "$RUN/checkpoint.safetensors" ] && break
    sleep 0.1
done
sleep 1 # into the next epoch
victim=""
for p in $(pgrep -f "$RUN" || true); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then
        victim=$p
    fi
done
if [ -z "$victim" ]; then
    ko "kill test: no rank 1 found ($(tail -3 "$TMP/kill.log"))"
    kill "$mpirun_pid" 2>/dev/null
else
    kill -9 "$victim"
    start=$SECONDS
    while kill -0 "$mpirun_pid" 2>/dev/null && [ $((SECONDS - start)) -lt 90 ]; do sleep 0.2; done
    took=$((SECONDS - start))
    if kill -0 "$mpirun_pid" 2>/dev/null; then
        ko "kill -9 of rank 1: the job still runs after 90 s"
        kill -9 "$mpirun_pid"
    else
        wait "$mpirun_pid"
        rc=$?
        [ $rc -ne 0 ] && [ $took -le 60 ] && ok "kill -9 of rank 1: mpirun exits $rc after $took s" ||
            ko "kill -9 of rank 1: exit $rc after $took s"
    fi
    if "$SN" eval --checkpoint "$RUN/checkpoint.safetensors" --data "$TMP/idx" --limit-test 32 \
        >"$TMP/kill-eval.log" 2>&1; then
        ok "the checkpoint is intact after the kill ($(grep -o 'epoch [0-9]*' "$TMP/kill-eval.log" | head -1))"
    else
        ko "the checkpoint after the kill: $(tail -3 "$TMP/kill-eval.log")"
    fi
fi

# ---- 6. compare ----------------------------------------------------------------------
if "${MPI[@]}" -np 2 "$SN" compare --models resnet8,sharesnet14 --data "$TMP/idx" --batch 64 \
        --epochs 1 --limit-test 32 --out "$TMP/compare" >"$TMP/compare.log" 2>&1 &&
   [ -s "$TMP/compare/compare.md" ] && [ -s "$TMP/compare/compare.csv" ] &&
   [ "$(grep -c '^sharesnet14 epoch 1:' "$TMP/compare.log")" = 1 ]; then
    ok "compare on 2 ranks: one table, written to $TMP/compare once"
else
    ko "compare on 2 ranks: $(tail -5 "$TMP/compare.log"; ls "$TMP/compare" 2>&1)"
fi

if [ -n "$BENCH" ]; then
    if "${MPI[@]}" -np 2 "$BENCH" throughput --model resnet8 --batch 16 --quick --peer off \
            --json "$TMP/tp.json" >"$TMP/tp.log" 2>&1 &&
       grep -q "data-parallel: 2 ranks" "$TMP/tp.log" &&
       [ "$(grep -c '| resnet8 | .* | train |' "$TMP/tp.log")" = 1 ] && [ -s "$TMP/tp.json" ]; then
        ok "sharesnet-bench throughput on 2 ranks: $(grep -o '| train | [0-9.]* img/s' "$TMP/tp.log")"
    else
        ko "sharesnet-bench throughput on 2 ranks: $(tail -5 "$TMP/tp.log")"
    fi
fi

if [ -n "$LOOP" ]; then
    if "${MPI[@]}" -np 2 "$LOOP" >"$TMP/loop.log" 2>&1 && [ "$(grep -c 'weights equal' "$TMP/loop.log")" = 2 ]; then
        ok "a loop of one's own on 2 ranks (sn_grad_reducer): $(grep 'rank 1' "$TMP/loop.log")"
    else
        ko "examples/train_dist_loop on 2 ranks: $(tail -5 "$TMP/loop.log")"
    fi
fi

# ---- 7. not a training command ---------------------------------------------------
out=$("${MPI[@]}" -np 2 "$SN" eval --checkpoint "$TMP/one-normal/checkpoint.safetensors" \
      --data "$TMP/idx" 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q "eval does not run on several ranks" <<<"$out" &&
    ok "eval on 2 ranks is refused (exit $rc)" || ko "eval on 2 ranks (exit $rc): $(tail -3 <<<"$out")"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
