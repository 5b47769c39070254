#!/usr/bin/env bash
# A `troupe node` killed in the middle of a batch and started again at the same address: the head
# reconnects, recomputes what was running, and every request finishes with exactly the tokens it
# gives in one process (greedy). Killed and not restarted: once --executor-reconnect-seconds have
# passed, every unfinished request ends with finish_reason abort and the head exits.
set -euo pipefail
troupe=$1 model=$2
work=$(mktemp -d)
node_pid=
trap 'kill -9 $node_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for i in $(seq 1 24); do
  echo "{\"id\": $i, \"prompt\": \"prompt number $i: $(printf 'word%.0s ' $(seq 1 $i))\", \"max_tokens\": 32, \"temperature\": 0, \"ignore_eos\": true}"
done >"$work/prompts.jsonl"
common=(--model "$model" --load-format dummy --prompts-file "$work/prompts.jsonl" --max-num-seqs 4 --max-num-batched-tokens 32 --num-kv-blocks 64)

start_node() {  # start_node PORT LOG
  "$troupe" node --model "$model" --load-format dummy --port "$1" >/dev/null 2>"$2" &
  node_pid=$!
  for _ in $(seq 1 100); do
    grep -q "executor published" "$2" && return 0
    sleep 0.1
  done
  echo "node did not start:"; cat "$2"; exit 1
}

kill_node_after_two_results() {  # kill_node_after_two_results RESULTS_FILE: others are mid-generation
  for _ in $(seq 1 300); do
    [ "$(wc -l <"$1")" -ge 2 ] && break
    sleep 0.05
  done
  kill -9 "$node_pid"
  wait "$node_pid" 2>/dev/null || true
}

start_node 0 "$work/node1.log"
port=$(sed -n 's/.*executor published on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/node1.log")

"$troupe" generate "${common[@]}" 2>/dev/null | sort >"$work/local.txt"
"$troupe" generate "${common[@]}" --executor "127.0.0.1:$port" >"$work/remote.txt" 2>"$work/head.log" &
head_pid=$!
kill_node_after_two_results "$work/remote.txt"
done_before=$(wc -l <"$work/remote.txt")
[ "$done_before" -lt 24 ] || { echo "the batch finished before the node was killed: make it longer"; exit 1; }
start_node "$port" "$work/node2.log"
wait "$head_pid"
grep -q "is back" "$work/head.log" || { echo "the head did not report reconnecting:"; cat "$work/head.log"; exit 1; }
sort "$work/remote.txt" >"$work/remote_sorted.txt"
[ "$(wc -l <"$work/remote_sorted.txt")" -eq 24 ] || { echo "expected 24 results"; cat "$work/remote_sorted.txt"; exit 1; }
diff "$work/local.txt" "$work/remote_sorted.txt"
echo "node killed after $done_before of 24 results and restarted: all 24 identical to one process"

# The same kill with no restart.
"$troupe" generate "${common[@]}" --executor "127.0.0.1:$port" --executor-reconnect-seconds 1 \
  >"$work/lost.txt" 2>"$work/head2.log" &
head_pid=$!
kill_node_after_two_results "$work/lost.txt"
wait "$head_pid"
[ "$(wc -l <"$work/lost.txt")" -eq 24 ] || { echo "expected 24 results after giving up"; cat "$work/lost.txt"; exit 1; }
aborted=$(grep -c '"finish_reason":"abort"' "$work/lost.txt" || true)
[ "$aborted" -ge 1 ] || { echo "no request ended with abort:"; cat "$work/lost.txt"; exit 1; }
grep -q "no node answered within 1000 ms" "$work/head2.log" || { echo "no give-up line:"; cat "$work/head2.log"; exit 1; }
echo "node lost for good: the head gave up after 1 s and ended $aborted unfinished requests with abort"
