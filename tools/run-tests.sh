#!/bin/sh
# The whole test suite, as CI runs it: installs the Debian packages, builds the release
# configuration with warnings as errors and the ASan+UBSan configuration, and runs every test
# in both (the Vulkan tests on Mesa's lavapipe, one of them with the validation layer); then
# the thread tests (one model shared by several threads) in a ThreadSanitizer build.
# Usage: tools/run-tests.sh [ctest arguments...]
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
jobs=$(nproc)
start=$(date +%s)

echo "== release build (-Werror)"
cmake --preset ci >/dev/null
cmake --build --preset ci -j "$jobs"
echo "== release tests"
ctest --preset ci -j "$jobs" --timeout 900 "$@"

echo "== ASan + UBSan build"
cmake --preset ci-asan >/dev/null
cmake --build --preset ci-asan -j "$jobs"
echo "== ASan + UBSan tests"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --preset ci-asan -j "$jobs" --timeout 1800 -LE nosan "$@"

echo "== ThreadSanitizer build (the thread tests only)"
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$jobs"
echo "== ThreadSanitizer tests (label threads)"
ctest --preset tsan -j "$jobs" --timeout 1800 "$@"

echo "== all tests passed in $(( $(date +%s) - start )) s"
