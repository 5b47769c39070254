#!/usr/bin/env bash
# `troupe tokenize` and `troupe generate --json` print the JSON shapes later tools depend on.
set -euo pipefail
troupe=$1 model=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() {  # check EXPECTED -- command...
  local expected=$1; shift 2
  local got; got=$("$@" 2>/dev/null | tail -n 1)
  [ "$got" = "$expected" ] || { echo "FAIL: $*"; echo "  expected: $expected"; echo "  got:      $got"; exit 1; }
}
check '{"ids":[9707,1879]}' -- "$troupe" tokenize --model "$model" --text "Hello world"
check '{"text":"Hello world"}' -- "$troupe" tokenize --model "$model" --decode 9707,1879
check '{"text":"<|im_start|>"}' -- "$troupe" tokenize --model "$model" --decode 151644
check '{"text":""}' -- "$troupe" tokenize --model "$model" --decode 151644 --skip-special-tokens
echo '[{"role": "user", "content": "Hi"}]' >"$work/chat.json"
check '{"text":"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"}' -- \
  "$troupe" tokenize --model "$model" --chat "$work/chat.json" --add-generation-prompt
# generate --json: the last stdout line has prompt_ids, ids, text in that order.
line=$("$troupe" generate --model "$model" --load-format dummy --prompt "Hello world" --max-tokens 3 --temperature 0 --json 2>/dev/null | tail -n 1)
echo "$line" | grep -Eq '^\{"prompt_ids":\[9707,1879\],"ids":\[[0-9]+,[0-9]+,[0-9]+\],"text":".*"\}$' || { echo "FAIL: generate --json printed $line"; exit 1; }
# Same seed, same text; temperature sampling through the CLI.
a=$("$troupe" generate --model "$model" --load-format dummy --prompt "Hi" --max-tokens 8 --temperature 1 --seed 5 --json 2>/dev/null | tail -n 1)
b=$("$troupe" generate --model "$model" --load-format dummy --prompt "Hi" --max-tokens 8 --temperature 1 --seed 5 --json 2>/dev/null | tail -n 1)
[ "$a" = "$b" ] || { echo "FAIL: same seed gave $a and $b"; exit 1; }
# --help shows defaults. (Read whole first: grep -q stops reading at its match, and a help text
# longer than one pipe write would end troupe with SIGPIPE, failing the pipeline.)
help=$("$troupe" generate --help)
grep -q -- "--max-tokens.*64" <<<"$help" || { echo "FAIL: generate --help shows no default for --max-tokens"; exit 1; }
echo "tokenize and generate shapes as expected"
