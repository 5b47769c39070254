#!/usr/bin/env bash
# CPU prefill and decode speed of `troupe generate` on a dummy model of a preset's shape
# (default Qwen2.5-0.5B) with the real Qwen3 tokenizer. Prints the generator's timing lines.
#   bench/cpu_generate.sh [PRESET] [PROMPT_TOKENS] [MAX_TOKENS] [RUNS] [GENERATE FLAGS...]
# e.g. `bench/cpu_generate.sh qwen2.5-0.5b 512 64 3 --batch-invariant`.
# The prompt is "hello" repeated: one token per word with the Qwen3 tokenizer.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
preset=${1:-qwen2.5-0.5b} words=${2:-512} max_tokens=${3:-64} runs=${4:-3}
shift $(($# < 4 ? $# : 4))
dir="$root/.cache/bench-$preset"
mkdir -p "$dir"
cp "$root/config/presets/$preset/config.json" "$dir/"
cp "$root/.cache/tokenizers/qwen3/tokenizer.json" "$root/.cache/tokenizers/qwen3/tokenizer_config.json" "$dir/"
prompt=$(for _ in $(seq 1 "$words"); do printf 'hello '; done)
for _ in $(seq 1 "$runs"); do
  "$root/build/cli/troupe" generate --model "$dir" --load-format dummy --prompt "$prompt" \
    --max-tokens "$max_tokens" --temperature 0 --ignore-eos --json "$@" 2>&1 >/dev/null | grep "tok/s"
done
