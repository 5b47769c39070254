#!/usr/bin/env bash
# The same prompts file gives the same results whether the executor runs in this process or in
# a `troupe node` reached over loopback (every StepPlan and StepResult then crosses a socket),
# and whether the scheduler plans ahead (the default) or in lock step (--no-async-scheduling).
# Then `serve --executor` answers the fields the node's backend says it serves.
# Greedy: a batch's composition depends on timing, and OpenBLAS may round a row differently in a
# GEMM of another height, which can flip a sampled draw but not a clear argmax.
set -euo pipefail
troupe=$1 model=$2
work=$(mktemp -d)
server_pid=
trap 'kill $node_pid $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for i in $(seq 1 24); do
  echo "{\"id\": $i, \"prompt\": \"prompt number $i: $(printf 'word%.0s ' $(seq 1 $i))\", \"max_tokens\": $((i % 7 + 1)), \"temperature\": 0}"
done >"$work/prompts.jsonl"
common=(--model "$model" --load-format dummy --prompts-file "$work/prompts.jsonl" --max-num-seqs 4 --max-num-batched-tokens 32 --num-kv-blocks 64)

"$troupe" node --model "$model" --load-format dummy --port 0 >/dev/null 2>"$work/node.log" &
node_pid=$!
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*executor published on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/node.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "node did not start:"; cat "$work/node.log"; exit 1; }

"$troupe" generate "${common[@]}" 2>/dev/null | sort >"$work/local.txt"
"$troupe" generate "${common[@]}" --executor "127.0.0.1:$port" 2>/dev/null | sort >"$work/remote.txt"
[ "$(wc -l <"$work/local.txt")" -eq 24 ] || { echo "expected 24 results"; cat "$work/local.txt"; exit 1; }
"$troupe" generate "${common[@]}" --no-async-scheduling 2>/dev/null | sort >"$work/lockstep.txt"
diff "$work/local.txt" "$work/remote.txt"
diff "$work/local.txt" "$work/lockstep.txt"

# serve --executor opens the fields the node's backend says it serves (a CPU one with the whole LM
# head: logit_bias, min_tokens and prompt_logprobs), which a gateway cannot see from here.
fail() { echo "FAIL: $1"; cat "$work/serve.log"; exit 1; }
source "$(dirname "$0")/serve_lib.sh"
node_port=$port
start_serve --model "$model" --load-format dummy --executor "127.0.0.1:$node_port" --port 0
grep -q "the executor at 127.0.0.1:$node_port applies logit_bias and min_tokens, and scores prompt tokens" "$work/serve.log" ||
  fail "serve did not log the executor's capabilities"
post() { curl -sS --max-time 60 "http://127.0.0.1:$port/$1" -H 'Content-Type: application/json' -d "$2"; }
out=$(post v1/completions '{"prompt": "hello there", "max_tokens": 3, "temperature": 0, "logit_bias": {"42": 100},
                            "min_tokens": 3, "prompt_logprobs": 1}')
[ "$(jq -r '.choices[0].text' <<<"$out")" = "$(post detokenize '{"tokens": [42, 42, 42]}' | jq -r .prompt)" ] ||
  fail "logit_bias through --executor: $out"
prompt_len=$(post tokenize '{"prompt": "hello there"}' | jq .count)
[ "$(jq '.choices[0].prompt_logprobs | length' <<<"$out")" = "$prompt_len" ] &&
  [ "$(jq '.choices[0].prompt_logprobs[0]' <<<"$out")" = null ] &&
  [ "$(jq '.choices[0].prompt_logprobs[1] | length' <<<"$out")" -ge 1 ] || fail "prompt_logprobs through --executor: $out"
stop_serve
echo "24 results identical in one process and across two, planning ahead and in lock step; serve --executor honours logit_bias, min_tokens and prompt_logprobs"
