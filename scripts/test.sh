#!/usr/bin/env bash
# The README's test command: install, build, run every test. GPU tests report "skipped" when no
# CUDA device is found.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
"$root/scripts/build.sh"
# The server again under AddressSanitizer (tests/asan): only what the shutdown tests run.
cmake --build "$root/build" --target troupe_asan -j "${TROUPE_JOBS:-$(nproc)}"
cd "$root/build"
ctest --output-on-failure -j "${TROUPE_JOBS:-$(nproc)}"
