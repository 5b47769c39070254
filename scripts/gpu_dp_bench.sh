#!/usr/bin/env bash
# Issue 19's GPU row: two data-parallel replicas sharing one GPU (each half the memory budget:
# the replicas split --gpu-memory-utilization), Llama-3-8B shapes with dummy bf16 weights, the
# multi-turn workload through HTTP under each routing policy, and one replica alone as the base.
# Per run: troupe bench's summary (throughput, TTFT p50/p99) and the server's prefix-cache hit rate.
#
#   scripts/gpu_dp_bench.sh [BIN_DIR] [OUT_DIR]      (MODEL=.cache/llama-3-8b by default)
# DEVICE=cpu INPUT_LEN=.. OUTPUT_LEN=.. SYSTEM_LEN=.. CONVERSATIONS=.. try the script out on a CPU.
set -uo pipefail
bin=${1:-build/cli}
out=${2:-/tmp/troupe-gpu-dp}
model=${MODEL:-.cache/llama-3-8b}
conversations=${CONVERSATIONS:-64}
turns=${TURNS:-4}
device=${DEVICE:-cuda}
mkdir -p "$out"
[ "$device" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
port=18733

# run NAME FLAGS...: one server, the workload once, the server stopped.
run() {
  local name=$1
  shift
  "$bin/troupe" serve --model "$model" --load-format dummy --device "$device" --port $port "$@" >"$out/$name.serve.log" 2>&1 &
  local server=$!
  local up=0
  for _ in $(seq 1 240); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && { up=1; break; }
    kill -0 $server 2>/dev/null || break
    sleep 1
  done
  if [ $up = 0 ]; then
    echo "== $name: the server did not come up"; tail -8 "$out/$name.serve.log"
    kill -9 $server 2>/dev/null; wait $server 2>/dev/null
    return
  fi
  echo "== $name ($*)"
  grep -E "replica|KV|GPU" "$out/$name.serve.log" | head -6
  "$bin/troupe" bench --url "http://127.0.0.1:$port" --multi-turn --conversations "$conversations" --turns "$turns" \
    --input-len "${INPUT_LEN:-256}" --output-len "${OUTPUT_LEN:-64}" --system-prompt-len "${SYSTEM_LEN:-512}" --tokenizer "$model" \
    --result-json "$out/$name.json" >"$out/$name.bench.txt" 2>&1
  sed -n "/^prefix cache/p; /throughput/p; /TTFT/p" "$out/$name.bench.txt"
  kill -INT $server
  wait $server
}

run one
for policy in cache_aware least_loaded round_robin; do
  run "dp2-$policy" --data-parallel 2 --data-parallel-policy "$policy"
done
