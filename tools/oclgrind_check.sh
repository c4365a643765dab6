#!/usr/bin/env bash
# Run a command on Oclgrind's simulated device with its checks on, and fail
# when Oclgrind reports anything.
#
#   tools/oclgrind_check.sh COMMAND [ARGS...]
#
# Oclgrind (Debian package `oclgrind`) replaces the OpenCL library of the
# command, so the Oclgrind Simulator (a GPU: SN_DEVICE_GPU kernel variants,
# 32 KiB local memory) is its only device; SN_DEVICE and SN_TEST_DEVICE
# default to it. Every kernel launch is checked for out-of-bounds accesses
# (always on), data races (--data-races), uses of uninitialised values
# (--uninitialized) and API misuse (--check-api).
#
# Exit status: the command's own when it fails; else 1 when Oclgrind printed
# any report (error or warning) or the process crashed; else 0. Everything
# the command prints is shown as it runs and kept in $OCLGRIND_CHECK_LOG
# (default: a temporary file, removed on success).
#
# False positives: Oclgrind 21.10's shadow memory goes wrong when a buffer
# slot is reused or a buffer is filled or written in part from the host
# (tests/oclgrind/shadow_reuse.c); the library and the op tests avoid both
# on Oclgrind (src/runtime/memory.c, tests/ops/op_test.c), so no report is
# suppressed here. A suppression must name the report's headline and kernel
# exactly, with a comment that proves the report false.
set -uo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
if ! command -v oclgrind >/dev/null 2>&1; then
  echo "oclgrind_check: oclgrind is not installed (apt-get install oclgrind)" >&2
  exit 2
fi

export SN_DEVICE=${SN_DEVICE:-Oclgrind}
export SN_TEST_DEVICE=${SN_TEST_DEVICE:-Oclgrind}
# Every report counts: never let Oclgrind stop printing them.
export OCLGRIND_MAX_ERRORS=${OCLGRIND_MAX_ERRORS:-100000}

log=${OCLGRIND_CHECK_LOG:-}
keep_log=1
if [ -z "$log" ]; then
  log=$(mktemp "${TMPDIR:-/tmp}/oclgrind_check.XXXXXX")
  keep_log=0
fi

start=$SECONDS
oclgrind --check-api --data-races --uninitialized "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
elapsed=$((SECONDS - start))

# Narrow suppressions, one per line: "headline regex<TAB>kernel name". None
# are needed today (see above).
suppressions=''

# Oclgrind prints each report as a blank line, a headline, then indented
# lines; reports raised while a kernel runs carry "\tKernel: NAME", API
# errors "Oclgrind - OpenCL runtime error detected". Headlines below are all
# the report kinds of Oclgrind 21.10's checks and runtime.
headline='^(Invalid (read|write)|Invalid (memory|read from|write to)|Uninitialized|Controlflow depends on uninitialized|Instruction depends on an uninitialized|(Read-write|Write-write|Read-read) data race|.*data race at|Work-group divergence|Work-item divergence|Unaligned|Oclgrind - OpenCL runtime error detected|Oclgrind: .*errors generated|OCLGRIND FATAL ERROR|Oclgrind: )'
crash='(crashed during its setup or teardown|malloc\(\)|double free|corrupted (double-linked|size|unsorted)|Segmentation fault|Aborted)'

reports=$(awk -v supp="$suppressions" -v headline="$headline" '
  BEGIN { n = split(supp, lines, "\n")
          for (i = 1; i <= n; i++) if (lines[i] != "") { split(lines[i], f, "\t"); sh[i] = f[1]; sk[i] = f[2] } }
  function flush() {
    if (head == "") return
    for (i in sh) if (head ~ sh[i] && kernel == sk[i]) { suppressed++; head = ""; return }
    print head (kernel != "" ? "  [" kernel "]" : ""); head = ""
  }
  $0 ~ headline { flush(); head = $0; kernel = ""; next }
  head != "" && /^\tKernel: / { kernel = substr($0, 10); next }
  head != "" && /^$/ { next }
  head != "" && !/^\t/ { flush() }
  END { flush(); if (suppressed) print "(" suppressed " suppressed)" > "/dev/stderr" }
' "$log")
crashes=$(grep -E "$crash" "$log" || true)

if [ -n "$reports" ] || [ -n "$crashes" ]; then
  echo "oclgrind_check: FAILED, Oclgrind reported (log: $log):" >&2
  { printf '%s\n' "$reports"; printf '%s\n' "$crashes"; } | grep -v "^$" | sed -E "s/0x[0-9a-f]+/0x.../g" | sort | uniq -c | sort -rn | head -40 >&2
  [ "$status" -ne 0 ] || status=1
fi
if [ "$status" -ne 0 ]; then
  echo "oclgrind_check: FAILED with status $status after ${elapsed} s (log: $log): $*" >&2
  exit "$status"
fi
[ "$keep_log" -eq 1 ] || rm -f "$log"
echo "oclgrind_check: no reports (${elapsed} s): $*" >&2
exit 0
