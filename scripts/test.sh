#!/usr/bin/env bash
# The README's test command: install, build, run every test. GPU tests report "skipped" when no
# CUDA device is found.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure -j "${TROUPE_JOBS:-$(nproc)}"
