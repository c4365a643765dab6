#!/bin/sh
# The test of tools/oclgrind_check.sh itself: it must pass a clean kernel and
# fail on each kind of bug it exists to catch (check_probe.c: a read one
# float past a buffer, a use of uninitialised local memory, a data race).
# Then it reports whether Oclgrind still has the shadow-memory bug that
# src/runtime/memory.c works around (shadow_reuse.c; informational).
#
# usage: test_oclgrind_check.sh CHECK_SCRIPT CHECK_PROBE SHADOW_REUSE
# Exit 77 (skipped) when oclgrind is not installed.

CHECK=${1:?usage: test_oclgrind_check.sh CHECK_SCRIPT CHECK_PROBE SHADOW_REUSE}
PROBE=${2:?}
SHADOW=${3:?}
if ! command -v oclgrind >/dev/null 2>&1; then
    echo "skip: oclgrind is not installed"
    exit 77
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sn_oclgrind_XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
passed=0
failed=0

# expect NAME WANT_STATUS(0|fail) GREP_PATTERN MODE: run the probe under the check.
expect() {
    OCLGRIND_CHECK_LOG="$TMP/$1.log" "$CHECK" "$5" "$4" >"$TMP/$1.out" 2>&1
    status=$?
    if [ "$2" = 0 ] && [ $status -eq 0 ] && grep -q "no reports" "$TMP/$1.out"; then
        passed=$((passed + 1)); echo "ok   $1"
    elif [ "$2" = fail ] && [ $status -ne 0 ] && grep -q "FAILED, Oclgrind reported" "$TMP/$1.out" &&
         grep -Eq "$3" "$TMP/$1.out"; then
        passed=$((passed + 1)); echo "ok   $1 (status $status)"
    else
        failed=$((failed + 1)); echo "FAIL $1: status $status"
        sed 's/^/  /' "$TMP/$1.out" | tail -n 20
    fi
}

expect clean_kernel_passes       0    ''                                  clean  "$PROBE"
expect out_of_bounds_read_fails  fail 'Invalid read of size 4.*\[oob\]'    oob    "$PROBE"
expect uninitialised_local_fails fail 'Uninitialized.*\[uninit\]'         uninit "$PROBE"
expect data_race_fails           fail 'data race.*\[race\]'               race   "$PROBE"

# The command's own failure is passed on, reports or not.
"$CHECK" false >"$TMP/false.out" 2>&1
if [ $? -ne 0 ]; then passed=$((passed + 1)); echo "ok   failing_command_fails"
else failed=$((failed + 1)); echo "FAIL failing_command_fails: status 0"; fi

# Informational: does this Oclgrind still need the workaround?
if OCLGRIND_CHECK_LOG="$TMP/shadow.log" "$CHECK" "$SHADOW" reuse >"$TMP/shadow.out" 2>&1; then
    echo "note: this Oclgrind tracks reused buffer slots correctly; the full host write"
    echo "      of new buffers in src/runtime/memory.c may no longer be needed"
else
    echo "note: Oclgrind still reports reused buffer slots (shadow_reuse.c): workaround needed"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
