#!/usr/bin/env bash
# Installs the Debian packages Troupe builds and tests with, when any is missing.
# Needs root (or sudo). Safe to run again: it does nothing when all are present. curl, jq, bc
# and iproute2 (ip netns) are for the tests that drive servers and clusters from the shell.
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config ccache git
  libcaf-dev libcapnp-dev capnproto libspdlog-dev libfmt-dev libgtest-dev libgmock-dev
  libboost-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libopenblas-openmp-dev
  libpcre2-dev libutf8proc-dev libxxhash-dev libgloo-dev curl jq bc iproute2)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
