#!/usr/bin/env bash
# Installs what is missing, fetches the test data and demo tokenizer, and builds in Release.
# CUDA kernels are built too when nvcc is found (e.g. /usr/local/cuda/bin/nvcc).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install_deps.sh"
"$root/scripts/fetch_test_data.sh"
jobs=${TROUPE_JOBS:-$(nproc)}
# ccache keys on absolute paths unless told the tree's root: with it, every clone of the
# repository (CI's, a fresh one) reuses what another clone compiled.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j "$jobs"
