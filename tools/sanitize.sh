#!/usr/bin/env bash
# A second build with AddressSanitizer + UndefinedBehaviorSanitizer (and
# LeakSanitizer) running the fast part of the test suite.
#
#   bash tools/sanitize.sh [TEST...]     default: the fast tests below
#
# Builds into ./build-san (meson -Db_sanitize=address,undefined, UBSan
# errors fatal), runs the tests through meson (SN_TUNE=0 as usual), then
# fails if any log holds a sanitizer report: Criterion runs each test in a
# child process, and a leak found when a child exits does not fail the test
# by itself. Leaks of third-party libraries are suppressed in
# tools/lsan.supp, each with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."

build="build-san"
# The fast part: everything but the long numeric sweeps of the conv
# algorithms, the whole-model tests and the benchmarks, which exercise the
# same host code on bigger shapes (minutes each under ASan).
fast=(ref_ops runtime device_faults norm_pool_loss model/graph data_idx data_cifar data_png
      data_loader safetensors trainer cli dist)
targets=(tests/ref/test_ref_ops tests/runtime/test_runtime tests/runtime/test_device_faults
         tests/ops/test_norm_pool_loss tests/model/test_graph tests/data/test_data_idx
         tests/data/test_data_cifar tests/data/test_data_png tests/data/test_data_loader
         tests/train/test_safetensors tests/train/test_trainer src/cli/sharesnet
         bench/sharesnet-bench tests/cli/librefuse_compile.so tests/dist/compare_checkpoints
         examples/train_dist_loop)
tests=("$@")
[ $# -gt 0 ] || tests=("${fast[@]}")

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=debug -Dwerror=true -Db_sanitize=address,undefined \
    -Dc_args=-fno-sanitize-recover=undefined
fi
if [ $# -gt 0 ]; then ninja -C "$build"; else ninja -C "$build" "${targets[@]}"; fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tools/lsan.supp:print_suppressions=0}
rc=0
meson test -C "$build" --no-rebuild --print-errorlogs --num-processes 1 "${tests[@]}" || rc=$?
log=$build/meson-logs/testlog.txt
if grep -nE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$log" >"$build/sanitizer-reports.txt"; then
  echo "sanitize: sanitizer reports in $log:" >&2
  head -n 40 "$build/sanitizer-reports.txt" >&2
  rc=1
fi
[ $rc -eq 0 ] && echo "sanitize: ${#tests[@]} test programs clean under ASan+UBSan+LSan"
exit $rc
