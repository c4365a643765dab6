#!/bin/sh
# The shared library exports exactly the public API: every function declared
# with SN_API in include/ and nothing else (internal helpers and test hooks
# stay hidden: the library is built with -fvisibility=hidden).
#
# usage: test_exports.sh LIBSHARESNET.so INCLUDE_DIR
LIB=${1:?usage: test_exports.sh LIB INCLUDE_DIR}
INC=${2:?usage: test_exports.sh LIB INCLUDE_DIR}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sn_exports_XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

# A declaration's name is the first sn_ identifier before a '(' on its SN_API line.
grep -h '^SN_API ' "$INC"/sharesnet/*.h | sed -E 's/^[^(]*[ *](sn_[a-z0-9_]+) *\(.*/\1/' |
    sort -u >"$TMP/declared"
nm -D --defined-only "$LIB" | awk '$2 == "T" {print $3}' | sort -u >"$TMP/exported"

declared=$(wc -l <"$TMP/declared")
exported=$(wc -l <"$TMP/exported")
echo "declared public functions: $declared, exported functions: $exported"
passed=0
failed=0
if [ "$declared" -gt 100 ]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: only $declared SN_API declarations found"; fi
extra=$(comm -13 "$TMP/declared" "$TMP/exported")
if [ -z "$extra" ]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: exported but not public:"; echo "$extra"; fi
missing=$(comm -23 "$TMP/declared" "$TMP/exported")
if [ -z "$missing" ]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: public but not exported (definition without SN_API?):"
    echo "$missing"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
