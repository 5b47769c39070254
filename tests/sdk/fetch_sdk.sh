#!/usr/bin/env bash
# Installs the official OpenAI Node SDK (npm package `openai`, pinned) into .cache/openai-node for
# tests/sdk/openai_node_test.sh. Idempotent: kept when already installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest="$root/.cache/openai-node"
version=5.23.2
[ -f "$dest/node_modules/openai/package.json" ] && exit 0
echo "fetching openai@$version (npm install) -> $dest"
mkdir -p "$dest"
npm install --no-save --no-audit --no-fund --silent --prefix "$dest" "openai@$version"
