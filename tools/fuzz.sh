#!/usr/bin/env bash
# Build the libFuzzer harnesses of fuzz/ and run each for a bounded time.
#
#   bash tools/fuzz.sh [SECONDS] [HARNESS...]     default: 30 s each, every harness
#
# Builds into ./build-fuzz (clang, -Dfuzz=true, ASan + UBSan, UBSan errors
# fatal), writes seed corpora with fuzz/make_corpus.py, replays the kept
# crash inputs of fuzz/regressions/HARNESS/ (each must now pass), then fuzzes
# each harness for SECONDS with its corpus in build-fuzz/corpus/HARNESS/
# (kept between runs: it grows). A crash leaves its input in
# build-fuzz/crashes/HARNESS/ and fails the script; the summary prints the
# executions per harness. Needs clang-15 (or $CC) and its libFuzzer
# (Debian: clang-15, libfuzzer-15-dev).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
shift || true
all=(fuzz_safetensors fuzz_checkpoint fuzz_idx fuzz_cifar fuzz_png fuzz_program_binary fuzz_tune)
harnesses=("$@")
[ $# -gt 0 ] || harnesses=("${all[@]}")
build="build-fuzz"
export CC=${CC:-clang-15}

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=debugoptimized -Dfuzz=true -Dtests=false \
    -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all
fi
ninja -C "$build" "${harnesses[@]/#/fuzz/}"

# The seeds; with the normal build's CLI a real checkpoint joins them (it
# needs an OpenCL device; without one the other seeds still are written).
seeds=$build/seeds
rm -rf "$seeds"
sn=build/src/cli/sharesnet
if [ -x "$sn" ]; then
  SN_TUNE=0 python3 fuzz/make_corpus.py "$seeds" --sharesnet "$sn"
else
  python3 fuzz/make_corpus.py "$seeds"
fi

# LSan's leak checks stay on; the harnesses do not reach OpenCL, so no
# suppressions are needed here (see tools/sanitize.sh for the ones that are).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
summary=()
for h in "${harnesses[@]}"; do
  exe=$PWD/$build/fuzz/$h
  corpus=$build/corpus/$h
  crashes=$build/crashes/$h
  mkdir -p "$corpus" "$crashes"
  # Inputs that once crashed a harness are replayed first: regressions.
  if [ -d "fuzz/regressions/$h" ] && [ -n "$(ls -A "fuzz/regressions/$h")" ]; then
    if ! "$exe" -runs=0 "fuzz/regressions/$h"/* >"$build/$h.regressions.log" 2>&1; then
      echo "fuzz: $h fails a kept regression input (log: $build/$h.regressions.log)" >&2
      tail -n 30 "$build/$h.regressions.log" >&2
      status=1
      continue
    fi
  fi
  log=$build/$h.log
  # -rss_limit_mb / -malloc_limit_mb: an input that makes the library
  # allocate gigabytes is a finding too. -timeout: a slow input is one.
  if "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1536 \
       -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "$seeds/$h" >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (input in $crashes, log $log)"
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
  summary+=("$(printf '%-20s %10s executions in %ss, %s, corpus %s files: %s' "$h" \
    "${execs:-?}" "$seconds" "${cov:-cov: ?}" "$(ls "$corpus" | wc -l)" "$result")")
done
printf '%s\n' "fuzz summary:" "${summary[@]}"
exit $status
