#!/usr/bin/env bash
# --tensor-parallel N (--tensor-parallel-size N) runs N ranks as threads of this process, each with
# its share of every layer's heads and MLP, and gives the results of one executor: 24 greedy prompts
# batched (chunked prefills, at most 4 sequences a step) on the demo model (4 query heads, 2 KV
# heads, so tp = 4 replicates each KV head on two ranks), planning ahead and in lock step, and one
# --prompt, and through HTTP (`serve`, 12 concurrent greedy completions, so they batch). Greedy only: a rank's partial sums round differently from the whole GEMM's in the last
# bits, which can move a seeded draw over this near-uniform random vocabulary (as a GEMM of another
# height can, see pipeline_parallel_test.sh) but not a greedy pick with a margin. A tp the heads do
# not divide, a GPU, and tp with pp are refused with one error line.
set -euo pipefail
troupe=$1 model=$2
source "$(dirname "$0")/parallel_lib.sh"  # same, expect_refusal, write_prompts
work=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
write_prompts
g=(--model "$model" --load-format dummy --device cpu --max-num-seqs 4 --max-num-batched-tokens 32 --num-kv-blocks 64
   --prompts-file "$work/greedy.jsonl")
"$troupe" generate "${g[@]}" 2>/dev/null | sort >"$work/g_tp1.txt"
"$troupe" generate "${g[@]}" --tensor-parallel 2 2>"$work/tp2.log" | sort >"$work/g_tp2.txt"
"$troupe" generate "${g[@]}" --tensor-parallel-size=4 2>/dev/null | sort >"$work/g_tp4.txt"
"$troupe" generate "${g[@]}" --tensor-parallel 2 --no-async-scheduling 2>/dev/null | sort >"$work/g_tp2_lockstep.txt"
same greedy g_tp1 g_tp2 g_tp4 g_tp2_lockstep
grep -q "tensor parallel: 2 ranks of 2/4 query heads" "$work/tp2.log" || { echo "no rank layout logged:"; cat "$work/tp2.log"; exit 1; }

one=(--model "$model" --load-format dummy --device cpu --prompt "one prompt, alone" --max-tokens 12 --temperature 0 --json)
"$troupe" generate "${one[@]}" 2>/dev/null | tail -1 >"$work/one_tp1.json"
"$troupe" generate "${one[@]}" --tensor-parallel 2 2>/dev/null | tail -1 >"$work/one_tp2.json"
diff "$work/one_tp1.json" "$work/one_tp2.json" || { echo "--prompt differs with two ranks"; exit 1; }

# serve_texts NAME [serve flags...]: starts a server, sends 12 greedy completions at once, writes
# their texts (one line each, in prompt order) to $work/NAME.txt, stops the server.
serve_texts() {
  local name=$1; shift
  "$troupe" serve --model "$model" --load-format dummy --device cpu --port 0 "$@" >/dev/null 2>"$work/$name.log" &
  server_pid=$!
  local port=
  for _ in $(seq 1 300); do
    port=$(sed -n 's|.*serving .* on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/$name.log")
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "FAIL: $name did not start:"; cat "$work/$name.log"; exit 1; }
  for i in $(seq 1 12); do
    curl -s "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' \
      -d "{\"prompt\": \"request $i of a dozen, $(printf 'more %.0s' $(seq 1 $i))\", \"max_tokens\": 10, \"temperature\": 0}" \
      >"$work/$name.$i.json" &
  done
  wait $(jobs -p | grep -v "^$server_pid$")
  for i in $(seq 1 12); do jq -r '.choices[0].text | strings | @json' "$work/$name.$i.json"; done >"$work/$name.txt"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
  [ "$(grep -c . "$work/$name.txt")" -eq 12 ] || { echo "FAIL: $name answered:"; cat "$work/$name".*.json; exit 1; }
}
serve_texts http_tp1
serve_texts http_tp2 --tensor-parallel 2
diff "$work/http_tp1.txt" "$work/http_tp2.txt" || { echo "serve: two ranks answer otherwise than one"; exit 1; }

expect_refusal "tensor_parallel 3 does not divide the model's 4 attention heads" \
  generate --model "$model" --load-format dummy --device cpu --prompt hi --tensor-parallel 3
expect_refusal "CPU executors only" generate --model "$model" --load-format dummy --device cuda --prompt hi --tensor-parallel 2
expect_refusal "not built yet" generate --model "$model" --load-format dummy --device cpu --prompt hi --tensor-parallel 2 -pp 2
echo "24 greedy results identical with 1, 2 and 4 tensor-parallel ranks (ahead and lock step), one --prompt and 12 HTTP completions too; refusals are one line"
