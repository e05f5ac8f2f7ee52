#!/bin/sh
# Install the Debian packages retort's build, tests and main job need.
# Idempotent and quiet when everything is present. Usage: scripts/deps.sh [--fixtures]
#   --fixtures  also the Python packages used only to regenerate test fixtures
#               and run peer benchmarks (python3-torch etc.); never needed at run time.
set -eu
PKGS="build-essential make pkg-config clang libclang-rt-14-dev libopenblas-openmp-dev libcjson-dev libcmocka-dev
libkissfft-dev libsndfile1-dev libsamplerate0-dev zlib1g-dev dataset-fashion-mnist"
if [ "${1:-}" = "--fixtures" ]; then
    PKGS="$PKGS python3-torch python3-numpy python3-scipy python3-sklearn python3-venv espeak-ng sox"
fi
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
