#!/usr/bin/env bash
# The README's serve command: install what is missing, build (Release), start `troupe serve`.
# Arguments go to `troupe serve` (e.g. --model DIR --port 8000); with no --model it serves the
# demo model (random weights, real Qwen3 tokenizer: its text is noise).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
exec "$root/build/cli/troupe" serve "$@"
