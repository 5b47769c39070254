#!/usr/bin/env bash
# A broken model folder or bad input ends in exactly one "error: ..." line naming the problem and
# a non-zero exit, never a crash.
set -euo pipefail
troupe=$1 model=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
expect_error() {  # expect_error CODE PATTERN -- command...
  local code=$1 pattern=$2; shift 3
  set +e; "$@" >"$work/out" 2>"$work/err"; local rc=$?; set -e
  grep -v ' info ' "$work/err" >"$work/err.lines" || true
  if [ "$rc" -ne "$code" ] || [ "$(wc -l <"$work/err.lines")" -ne 1 ] || ! grep -q "^error: .*$pattern" "$work/err.lines"; then
    echo "FAIL: $* -> exit $rc, stderr:"; cat "$work/err"; exit 1
  fi
}
cp -r "$model" "$work/m"
rm "$work/m/config.json"
expect_error 1 "config.json: cannot open" -- "$troupe" generate --model "$work/m" --load-format dummy --prompt hi
cp "$model/config.json" "$work/m/"
sed -i 's/"hidden_size": [0-9]*/"hidden_size": "big"/' "$work/m/config.json"
expect_error 1 "'hidden_size' must be an integer" -- "$troupe" generate --model "$work/m" --load-format dummy --prompt hi
cp "$model/config.json" "$work/m/"
expect_error 1 "no model.safetensors" -- "$troupe" generate --model "$work/m" --prompt hi
echo '{"model": {"type": "WordPiece"' >"$work/m/tokenizer.json"
expect_error 1 "tokenizer.json" -- "$troupe" tokenize --model "$work/m" --text hi
expect_error 1 "not a directory" -- "$troupe" tokenize --model "$work/none" --text hi
printf '{"prompt": "a", "temperature": -1}\n' >"$work/bad.jsonl"
expect_error 2 "bad.jsonl:1: field 'temperature'" -- "$troupe" generate --model "$model" --load-format dummy --prompts-file "$work/bad.jsonl"
expect_error 2 "top_p" -- "$troupe" generate --model "$model" --load-format dummy --prompt hi --top-p 0
{ printf '{"id": '; head -c 100000 /dev/zero | tr '\0' '['; head -c 100000 /dev/zero | tr '\0' ']'; printf ', "prompt": "a"}\n'; } >"$work/deep.jsonl"
expect_error 2 "deep.jsonl:1: the line nests deeper than 64 levels" -- "$troupe" generate --model "$model" --load-format dummy --prompts-file "$work/deep.jsonl"
printf 'k\n' >"$work/api.key"
expect_error 2 "with --api-key or with --api-key-file, not both" -- "$troupe" serve --model "$model" --api-key k --api-key-file "$work/api.key"
printf ' \n' >"$work/blank.key"
expect_error 2 "blank.key: its first line holds no key" -- "$troupe" serve --model "$model" --api-key-file "$work/blank.key"
expect_error 2 "none.key: cannot read" -- "$troupe" serve --model "$model" --api-key-file "$work/none.key"
expect_error 2 "--batch-invariant: batch-invariant kernels exist for the CPU executor only" -- "$troupe" generate --model "$model" --load-format dummy --prompt hi --device cuda --batch-invariant
expect_error 2 "--batch-invariant with --executor: the executor's process runs the kernels" -- "$troupe" serve --model "$model" --executor 127.0.0.1:1 --batch-invariant
expect_error 2 "--batch-invariant cannot be combined with --config" -- "$troupe" node --config "$work/none.toml" --name x --batch-invariant
# A cluster head resolves [server]'s files before it loads or binds anything: each bad one is one
# line naming the file, the key's line and the key. head_with LINE: a one-node file with LINE in [server].
head_with() {
  mkdir -p "$work/cluster"
  printf '[model]\npath = "%s"\nload_format = "dummy"\n[server]\nport = 0\n%s\n[[node]]\nname = "head"\naddress = "127.0.0.1:1"\nroles = ["gateway", "scheduler", "kv_manager", "executor"]\n' \
    "$model" "$1" >"$work/cluster/c.toml"
}
head_with 'chat_template = "missing.jinja"'
expect_error 1 "c.toml:6: server.chat_template: $work/cluster/missing.jinja: --chat-template: no such file" -- "$troupe" node --config "$work/cluster/c.toml" --name head
head_with 'chat_template = "{% if"'
expect_error 1 "c.toml:6: server.chat_template: .*unexpected end of template" -- "$troupe" node --config "$work/cluster/c.toml" --name head
head_with 'generation_config = "none"'
expect_error 1 "c.toml:6: server.generation_config: $work/cluster/none: --generation-config takes auto, vllm or a folder" -- "$troupe" node --config "$work/cluster/c.toml" --name head
head_with "override_generation_config = '{\"do_sample\": true}'"
expect_error 1 "c.toml:6: server.override_generation_config: .*'do_sample' is not applied here" -- "$troupe" node --config "$work/cluster/c.toml" --name head
head_with 'api_key_file = "none.key"'
expect_error 1 "c.toml:6: server.api_key_file: .*none.key: cannot read" -- "$troupe" node --config "$work/cluster/c.toml" --name head
echo "every case: one error line, non-zero exit"
