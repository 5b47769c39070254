#!/usr/bin/env bash
# The same prompts file gives the same results whether the executor runs in this process or in
# a `troupe node` reached over loopback (every StepPlan and StepResult then crosses a socket),
# and whether the scheduler plans ahead (the default) or in lock step (--no-async-scheduling).
# Greedy: a batch's composition depends on timing, and OpenBLAS may round a row differently in a
# GEMM of another height, which can flip a sampled draw but not a clear argmax.
set -euo pipefail
troupe=$1 model=$2
work=$(mktemp -d)
trap 'kill $node_pid 2>/dev/null || true; rm -rf "$work"' EXIT
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
echo "24 results identical in one process and across two, planning ahead and in lock step"
