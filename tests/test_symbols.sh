#!/bin/sh
# The shared library exports the public API and nothing else (issue 6): every dynamic symbol
# it defines is a vkdetr_ name (no vd_ internals, no stb, no cJSON), and every function
# declared VKDETR_API in vkdetr.h is among them.
# Usage: test_symbols.sh LIBVKDETR_SO VKDETR_H
set -eu
lib=$1
header=$2
command -v nm >/dev/null || { echo "skipped: no nm"; exit 77; }
nm -D --defined-only "$lib" | awk '{ print $NF }' | sort -u > "${TMPDIR:-/tmp}/vkdetr-symbols.$$"
trap 'rm -f "${TMPDIR:-/tmp}/vkdetr-symbols.$$"' EXIT
symbols="${TMPDIR:-/tmp}/vkdetr-symbols.$$"
echo "$(wc -l < "$symbols") exported symbols"
status=0
others=$(grep -v '^vkdetr_' "$symbols" || true)
if [ -n "$others" ]; then
    echo "FAIL: exported symbols outside the public API:"
    echo "$others"
    status=1
fi
# VKDETR_API <type> [*]vkdetr_name(  (the declaration may wrap after the name)
declared=$(tr '\n' ' ' < "$header" | grep -o 'VKDETR_API[^;(]*(' | grep -o 'vkdetr_[A-Za-z0-9_]*[[:space:]]*($' |
           tr -d ' (' | sort -u)
[ -n "$declared" ] || { echo "FAIL: no VKDETR_API declarations found in $header"; exit 1; }
for f in $declared; do
    if ! grep -qx "$f" "$symbols"; then
        echo "FAIL: $f is declared in vkdetr.h but not exported"
        status=1
    fi
done
echo "$(echo "$declared" | wc -l) functions declared in vkdetr.h, all exported: $([ $status = 0 ] && echo yes || echo no)"
exit $status
