#!/usr/bin/env bash
# Runs an ASan-built test program (or a script whose first argument after it is one), or reports
# the test skipped (exit 77) when the ASan build is missing: build it with
# `cmake --build build --target troupe_asan` (scripts/test.sh does).
set -euo pipefail
for f in "$@"; do
  case "$f" in
    */asan/*) [ -x "$f" ] || { echo "SKIPPED: $f is not built (cmake --build build --target troupe_asan)"; exit 77; } ;;
  esac
done
exec "$@"
