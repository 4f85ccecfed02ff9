#!/bin/sh
# Installs the Debian 12 packages vkdetr needs to build, test and run its apps. Idempotent:
# when everything is installed it only checks (well under 2 s) and installs nothing.
# Usage: tools/install-deps.sh   (as root, or with sudo available)
set -eu

PACKAGES="
build-essential cmake pkg-config git
libopenblas-dev libstb-dev libcjson-dev libcmocka-dev libsimde-dev libjpeg-dev
libvulkan-dev mesa-vulkan-drivers glslc vulkan-validationlayers
libcurl4-openssl-dev libssl-dev libsdl2-dev libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
python3 xvfb xauth
"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing
