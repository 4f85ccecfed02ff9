#!/bin/sh
# Real-size parity with transformers: generates the random-weight fixtures that are missing
# (fixtures-large/, git-ignored; tools/gen_rtdetr_fixtures.py) and runs the stage-by-stage
# comparison of tests/test_rtdetr_parity on each, printing every stage's error.
#
# Usage: tools/parity-large.sh [--build DIR] [--backend cpu|vulkan] [names...]
#   names default to: r18vd r50vd v2_r18vd r18vd_640x480 v1_tiny_wide
#   --backend vulkan needs a Vulkan device (VKDETR_DEVICE selects one, e.g. llvmpipe).
set -eu
cd "$(dirname "$0")/.."
build=build/release
backend=cpu
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
names=${*:-"r18vd r50vd v2_r18vd r18vd_640x480 v1_tiny_wide"}
py=${VKDETR_PYTHON:-/opt/vkdetr-py/bin/python}

missing=""
for n in $names; do
  [ -f "fixtures-large/$n/reference.safetensors" ] || missing="$missing $n"
done
if [ -n "$missing" ]; then
  echo "== generating:$missing"
  $py tools/gen_rtdetr_fixtures.py --large $missing
fi
[ -x "$build/tests/test_rtdetr_parity" ] || cmake --build "$build" --target test_rtdetr_parity
dirs=""
for n in $names; do dirs="$dirs fixtures-large/$n"; done
VKDETR_PARITY_BACKEND=$backend exec "$build/tests/test_rtdetr_parity" $dirs
