#!/usr/bin/env bash
# Installs the official OpenAI Node SDK (npm package `openai`, pinned) into .cache/openai-node for
# tests/sdk/openai_node_test.sh. Idempotent: kept when the pinned version is already installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest="$root/.cache/openai-node"
# 4.x runs on Debian 12's Node 18 as well as on Node 20 (5.x needs 20).
version=4.104.0
installed=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$dest/node_modules/openai/package.json" 2>/dev/null || true)
[ "$installed" = "$version" ] && exit 0
echo "fetching openai@$version (npm install) -> $dest"
mkdir -p "$dest"
npm install --no-save --no-audit --no-fund --silent --prefix "$dest" "openai@$version"
