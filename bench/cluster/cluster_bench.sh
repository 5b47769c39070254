#!/usr/bin/env bash
# CPU pipeline (and tensor) parallel as separate `troupe node` processes on one machine, against one process:
#  1. resident memory per node after loading, from real bf16 safetensors of a preset's shape
#     (make_checkpoint.py writes them): one node holding the whole model, then pp=2 and pp=4;
#  2. output tokens/s through HTTP (`troupe bench`, token-id prompts) of `troupe serve` with every
#     core against a pp=2 cluster (each node its share of the cores) on the demo model, and each
#     stage's utilization (troupe:stage_busy_seconds_total over the bench's wall time); then a
#     tp=2 cluster of two nodes the same way.
# Usage: bench/cluster/cluster_bench.sh [PRESET=qwen2.5-0.5b] [INPUT_LEN=64] [OUTPUT_LEN=64] [PROMPTS=64]
# Prints markdown tables for docs/benchmarks.md. Run on an idle machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
troupe=$root/build/cli/troupe
preset=${1:-qwen2.5-0.5b} input_len=${2:-64} output_len=${3:-64} prompts=${4:-64}
work=$(mktemp -d)
troupe=$troupe model="$root/.cache/demo-model"
source "$root/tests/cli/cluster_lib.sh"
ref_pid=""
trap 'cluster_cleanup; [ -n "$ref_pid" ] && kill -9 $ref_pid 2>/dev/null; rm -rf "$work"' EXIT
cores=$(nproc)

status_kib() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }

# wait_log LOG PID PATTERN: until PATTERN is in LOG (bounded: 300 s).
wait_log() {
  for _ in $(seq 1 3000); do grep -q "$3" "$1" && return 0; kill -0 "$2" 2>/dev/null || { cat "$1"; return 1; }; sleep 0.1; done
  cat "$1"; return 1
}

echo "## Resident memory per node after loading ($preset shape, real bf16 safetensors, fp32 on the CPU)"
python3 "$root/bench/cluster/make_checkpoint.py" "$root/config/presets/$preset/config.json" "$model" "$work/ckpt" >&2
model="$work/ckpt"
echo
echo "| pp | node | layers | VmRSS MiB | VmHWM (peak) MiB |"
echo "| --- | --- | --- | --- | --- |"
for pp in 1 2 4; do
  pick_ports
  write_config "$work/rss$pp.toml" "$pp" "$pp"
  sed -i 's/^load_format = "dummy"/load_format = "auto"/' "$work/rss$pp.toml"
  for i in $(seq $((pp - 1)) -1 0); do
    name=head; [ "$i" -gt 0 ] && name="worker-$i"
    start_node "$work/rss$pp.toml" "$name" "$work/rss$pp-$name.log"
    eval "pid_$i=$node_pid"
  done
  for i in $(seq 0 $((pp - 1))); do
    name=head; [ "$i" -gt 0 ] && name="worker-$i"
    pid_var="pid_$i"; pid=${!pid_var}
    if [ "$i" -eq 0 ]; then wait_http "$work/rss$pp-$name.log" "$pid" >&2; else wait_log "$work/rss$pp-$name.log" "$pid" "listening on" >&2; fi
  done
  for i in $(seq 0 $((pp - 1))); do
    name=head; [ "$i" -gt 0 ] && name="worker-$i"
    pid_var="pid_$i"; pid=${!pid_var}
    layers=$(sed -n 's/.*loading stage [0-9]*: layers \(\[[0-9]*, [0-9]*)\).*/\1/p' "$work/rss$pp-$name.log")
    echo "| $pp | $name | $layers | $(( $(status_kib "$pid" VmRSS) / 1024 )) | $(( $(status_kib "$pid" VmHWM) / 1024 )) |"
  done
  kill -TERM "${node_pids[@]}"; sleep 1; cluster_cleanup
done

echo
echo "## Throughput through HTTP, demo model (4 layers, vocab 151,936), $input_len in / $output_len out, $prompts prompts, concurrency 16, $cores cores"
model="$root/.cache/demo-model"
bench() {  # URL OUT_JSON
  "$troupe" bench --url "$1" --input-len "$input_len" --output-len "$output_len" --num-prompts "$prompts" \
    --concurrency 16 --vocab-size 150000 --result-json "$2" >/dev/null 2>&1
}
echo
echo "| run | output tok/s | TTFT p50 ms | TPOT p50 ms | stage utilization |"
echo "| --- | --- | --- | --- | --- |"
"$troupe" serve --model "$model" --load-format dummy --device cpu --threads "$cores" --port 0 --max-num-seqs 16 \
  --num-kv-blocks 1024 >/dev/null 2>"$work/one.log" &
ref_pid=$!
wait_http "$work/one.log" "$ref_pid" >&2
bench "http://127.0.0.1:$http_port" "$work/one.json"
kill -TERM "$ref_pid"; wait "$ref_pid" || true; ref_pid=""
row() { jq -r --arg run "$1" --arg util "$2" \
  '"| \($run) | \(.output_throughput | floor) | \(.ttft_ms.median | floor) | \(.tpot_ms.median * 10 | floor / 10) | \($util) |"' "$3"; }
row "one process, $cores threads" "-" "$work/one.json"

pick_ports
write_config "$work/pp2.toml" 2 2
sed -i 's/^max_num_seqs = 8$/max_num_seqs = 16/; s/^num_kv_blocks = 256$/num_kv_blocks = 1024/' "$work/pp2.toml"
threads=$(( cores / 2 > 0 ? cores / 2 : 1 ))
"$troupe" node --config "$work/pp2.toml" --name worker-1 --threads "$threads" >/dev/null 2>"$work/w.log" & node_pids+=($!)
"$troupe" node --config "$work/pp2.toml" --name head --threads "$threads" >/dev/null 2>"$work/h.log" & node_pids+=($!)
wait_http "$work/h.log" "${node_pids[1]}" >&2
url="http://127.0.0.1:$http_port"
busy() { curl -s "$url/metrics" | sed -n "s/^troupe:stage_busy_seconds_total{stage=\"$1\",[^}]*} //p"; }
sleep 6; b0=$(busy 0); b1=$(busy 1); t0=$(date +%s.%N)
bench "$url" "$work/pp2.json"
sleep 6; b0e=$(busy 0); b1e=$(busy 1); t1=$(date +%s.%N)
wall=$(echo "$t1 - $t0 - 6" | bc -l)  # the bench's wall time: the last heartbeat may lag it by up to 5 s
u0=$(echo "($b0e - $b0) / $wall * 100" | bc -l); u1=$(echo "($b1e - $b1) / $wall * 100" | bc -l)
row "pp=2, two nodes, $threads thread(s) each" "$(printf '%.0f%% / %.0f%%' "$u0" "$u1")" "$work/pp2.json"
kill -TERM "${node_pids[@]}"; sleep 1; cluster_cleanup

# tp=2 on two nodes: each rank its node's share of the cores, its half of every layer's heads and
# of the vocabulary (embedding and LM head split, as `troupe plan` places them).
pick_ports
cluster_tp=2 write_config "$work/tp2.toml" 1 2
sed -i 's/^max_num_seqs = 8$/max_num_seqs = 16/; s/^num_kv_blocks = 256$/num_kv_blocks = 1024/' "$work/tp2.toml"
"$troupe" node --config "$work/tp2.toml" --name worker-1 --threads "$threads" >/dev/null 2>"$work/tw.log" & node_pids+=($!)
"$troupe" node --config "$work/tp2.toml" --name head --threads "$threads" >/dev/null 2>"$work/th.log" & node_pids+=($!)
wait_http "$work/th.log" "${node_pids[1]}" >&2
bench "http://127.0.0.1:$http_port" "$work/tp2.json"
row "tp=2, two nodes, $threads thread(s) each" "-" "$work/tp2.json"
