#!/bin/sh
# The installed package (issue 6). Installs this build tree into a temporary prefix, moves
# the prefix (the package files must be relocatable), then builds the examples in
# apps/examples against it as another project would:
#   - a CMake project with find_package(vkdetr): detect and detect_json with vkdetr::vkdetr,
#     detect_static with vkdetr::vkdetr_static (and no libvkdetr.so dependency);
#   - pkg-config and plain compiler commands: the same three programs;
# runs each on a copy of the tiny RT-DETR fixture and compares its output with
# tests/install/*.expected (text equal, numbers within 0.02). Also checks the package's
# version against the header's and that a newer version is not accepted.
# Usage: test_install.sh SOURCE_DIR BUILD_DIR C_COMPILER CXX_COMPILER
set -eu
src=$1
build=$2
cc=$3
cxx=$4
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vkdetr-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log

fail() {
    echo "FAIL: $*"
    [ -s "$log" ] && tail -n 40 "$log"
    exit 1
}
run() { # runs a command with its output in $log
    "$@" > "$log" 2>&1 || fail "$*"
}

# Numbers within 0.02, everything else equal, line by line.
same_output() {
    awk -v tol=0.02 '
        function tokens(s, arr) { gsub(/[][{},:"]/, " ", s); return split(s, arr, " ") }
        function num(s) { return s ~ /^-?[0-9]+(\.[0-9]+)?$/ }
        NR == FNR { want[FNR] = $0; n = FNR; next }
        {
            m = FNR
            a = tokens(want[FNR], ta); b = tokens($0, tb)
            ok = FNR <= n && a == b
            for (i = 1; ok && i <= a; i++) {
                d = ta[i] - tb[i]
                ok = num(ta[i]) && num(tb[i]) ? (d <= tol && -d <= tol) : ta[i] == tb[i]
            }
            if (!ok) { printf "line %d: %s\nexpected: %s\n", FNR, $0, want[FNR]; bad = 1; exit }
        }
        END { if (!bad && m != n) { printf "%d lines, expected %d\n", m, n; bad = 1 } exit bad }
    ' "$1" "$2"
}

# Runs program on the fixture copy and compares with tests/install/<expected>.
check_run() {
    name=$1
    program=$2
    expected=$src/tests/install/$3
    (cd "$tmp/model" && "$program" . input.png) > "$tmp/out" 2> "$tmp/err" ||
        { cat "$tmp/err"; fail "$name: $program exited with an error"; }
    same_output "$expected" "$tmp/out" || fail "$name: output differs from $expected"
    echo "ok: $name ($(wc -l < "$tmp/out") lines)"
}

echo "== cmake --install"
run cmake --install "$build" --prefix "$tmp/installed"
mv "$tmp/installed" "$tmp/prefix"
prefix=$tmp/prefix
so=$(find "$prefix" -name libvkdetr.so | head -n 1)
[ -n "$so" ] || fail "no libvkdetr.so installed"
libdir=$(dirname "$so")
for f in "$libdir/libvkdetr.a" "$prefix/include/vkdetr.h" "$prefix/include/vkdetr.hpp" \
         "$libdir/cmake/vkdetr/vkdetrConfig.cmake" "$libdir/cmake/vkdetr/vkdetrConfigVersion.cmake" \
         "$libdir/pkgconfig/vkdetr.pc"; do
    [ -f "$f" ] || fail "not installed: $f"
done
find "$prefix" -type f | sed "s|^$prefix/||" | sort
mkdir "$tmp/model"
for f in config.json model.safetensors preprocessor_config.json input.png; do
    cp "$src/tests/data/rtdetr_v1_tiny/$f" "$tmp/model/"
done
version=$(awk '/#define VKDETR_VERSION_(MAJOR|MINOR|PATCH)/ { v = v sep $3; sep = "." } END { print v }' \
          "$prefix/include/vkdetr.h")
echo "version $version"

echo "== CMake: find_package(vkdetr)"
cmake_args="-DCMAKE_PREFIX_PATH=$prefix -DCMAKE_C_COMPILER=$cc -DCMAKE_CXX_COMPILER=$cxx
            -DCMAKE_BUILD_TYPE=Release -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF"
# shellcheck disable=SC2086
run cmake -S "$src/apps/examples" -B "$tmp/cmake" $cmake_args -DVKDETR_EXAMPLES_STATIC=ON
grep -q "^vkdetr_DIR:PATH=$libdir/cmake/vkdetr\$" "$tmp/cmake/CMakeCache.txt" ||
    fail "find_package found another vkdetr: $(grep '^vkdetr_DIR' "$tmp/cmake/CMakeCache.txt")"
run cmake --build "$tmp/cmake" -j 2
if readelf -d "$tmp/cmake/detect_static" | grep -q 'NEEDED.*libvkdetr'; then
    fail "detect_static needs libvkdetr.so"
fi
check_run "cmake, C, shared" "$tmp/cmake/detect" detect.expected
check_run "cmake, C, static" "$tmp/cmake/detect_static" detect.expected
check_run "cmake, C++, shared" "$tmp/cmake/detect_json" detect_json.expected

# the version file: this version and compatible requests are accepted, a newer one is not
mkdir "$tmp/ver"
cat > "$tmp/ver/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(vkdetr_version_check C)
find_package(vkdetr ${WANT} REQUIRED COMPONENTS shared static)
message(STATUS "found vkdetr ${vkdetr_VERSION}")
CMAKE
major=${version%%.*}
minor=${version#*.}
minor=${minor%%.*}
# shellcheck disable=SC2086
run cmake -S "$tmp/ver" -B "$tmp/ver/ok" $cmake_args -DWANT="$major.$minor"
grep -q "found vkdetr $version\$" "$log" || fail "find_package reports another version than $version"
# shellcheck disable=SC2086
if cmake -S "$tmp/ver" -B "$tmp/ver/newer" $cmake_args -DWANT="$((major + 1)).0" > "$log" 2>&1; then
    fail "find_package(vkdetr $((major + 1)).0) accepted version $version"
fi
echo "ok: find_package version checks"

echo "== pkg-config"
PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
[ "$(pkg-config --modversion vkdetr)" = "$version" ] || fail "pkg-config --modversion vkdetr"
pc_libdir=$(pkg-config --variable=libdir vkdetr)
mkdir "$tmp/pc"
# shellcheck disable=SC2046
run "$cc" -std=c11 -Wall -Wextra -Werror -o "$tmp/pc/detect" "$src/apps/examples/detect.c" \
    $(pkg-config --cflags --libs vkdetr) -Wl,-rpath,"$pc_libdir"
# shellcheck disable=SC2046
run "$cxx" -std=c++17 -Wall -Wextra -Werror -o "$tmp/pc/detect_json" "$src/apps/examples/detect_json.cpp" \
    $(pkg-config --cflags --libs vkdetr) -Wl,-rpath,"$pc_libdir"
# static: the archive by path, then its private dependencies
# shellcheck disable=SC2046
run "$cc" -std=c11 -o "$tmp/pc/detect_static" "$src/apps/examples/detect.c" $(pkg-config --cflags vkdetr) \
    "$pc_libdir/libvkdetr.a" $(pkg-config --static --libs vkdetr | sed 's/-lvkdetr\b//g')
if readelf -d "$tmp/pc/detect_static" | grep -q 'NEEDED.*libvkdetr'; then
    fail "pkg-config detect_static needs libvkdetr.so"
fi
check_run "pkg-config, C, shared" "$tmp/pc/detect" detect.expected
check_run "pkg-config, C, static" "$tmp/pc/detect_static" detect.expected
check_run "pkg-config, C++, shared" "$tmp/pc/detect_json" detect_json.expected
echo "== installed package: all checks passed"
