#!/usr/bin/env bash
# Issue 5's performance runs in one go on the GPU machine, peer first, then troupe, same card:
#   1. the gpt-fast-style PyTorch peer (PEER, default ../shared/peers/gptfast_peer.py) at batch 1, 8, 64;
#   2. troupe generate, batch 1: ms per output token (Llama-3-8B shapes, dummy bf16 weights);
#   3. troupe serve + troupe bench: 1,024 requests of 128 in / 128 out at concurrency 256, and
#      2,048 in / 128 out at concurrency 64.
# STEP_TRACE=FILE has the server write one line per executed step (engine/runtime/step_trace.h).
# Needs the Llama-3-8B preset folder (scripts/fetch_test_data.sh makes .cache/llama-3-8b).
#
#   [TP=N] [PP=M] scripts/gpu_bench.sh [BIN_DIR] [OUT_DIR]
#
# TP=N (1, 2, 4 or 8; N GPUs): first bench/gpu/tp_decoder_bench at tp 1 and at tp N (NCCL, one
# thread per GPU, decode graphs holding the all-reduces): decode step ms at batch 1..256 and the
# all-reduce alone at decode sizes; the peer is then ../shared/peers/gptfast_tp_peer.py under
# torchrun with N processes (PEER_TP overrides that path). troupe serve
# on GPUs drives one GPU today (--tensor-parallel with --device cuda is refused until the GPU TP
# backend is wired into the executor), so the HTTP runs stay at tp 1. PP=M > 1: generate and serve
# run M pipeline stages (--pipeline-parallel M: stage s on GPU s modulo the GPUs, so all on one GPU
# when there is one, sharing its memory utilization).
set -uo pipefail
bin=${1:-build/cli}
out=${2:-/tmp/troupe-gpu-bench}
model=${MODEL:-.cache/llama-3-8b}
peer=${PEER:-../shared/peers/gptfast_peer.py}
tp=${TP:-1}
pp=${PP:-1}
tp_bench=${TP_BENCH:-$(dirname "$bin")/bench/gpu/tp_decoder_bench}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt"
export NCCL_NVLS_ENABLE=0  # NVLink multicast stays off (issue 14; the GPU machines' rule)

pp_flags=()
[[ $pp != 1 ]] && pp_flags=(--pipeline-parallel "$pp")
if [[ $tp != 1 || -n ${TP_BENCH_ALWAYS:-} ]]; then
  echo "== tensor parallel decode steps: tp 1, then tp $tp (tp_decoder_bench)"
  "$tp_bench" 1 2>&1 | tee "$out/tp1_decoder.txt"
  [[ $tp != 1 ]] && "$tp_bench" "$tp" 2>&1 | tee "$out/tp${tp}_decoder.txt"
fi

if [[ -z ${SKIP_PEER:-} ]]; then
  echo "== peer: $peer"
  if [[ $tp != 1 ]]; then
    peer_tp=${PEER_TP:-$(dirname "$peer")/gptfast_tp_peer.py}
    echo "   (tensor parallel: $peer_tp over $tp processes)"
    BS=${PEER_BS:-1,8,64} torchrun --standalone --nproc_per_node="$tp" "$peer_tp" 2>&1 | tee "$out/peer.log" | grep -v Warning | tail -8
  else
    BS=${PEER_BS:-1,8,64} python3 "$peer" 2>&1 | tee "$out/peer.log" | grep -v Warning | tail -8
  fi
fi

echo "== troupe generate, batch 1"
prompt=$(python3 -c "print(' '.join(['token'] * 127))")
"$bin/troupe" generate --model "$model" --load-format dummy --device cuda --prompt "$prompt" \
  --max-tokens 256 --temperature 0 --ignore-eos --json "${pp_flags[@]}" >"$out/generate.json" 2>"$out/generate.log"
grep -E "decode|GPU|error" "$out/generate.log"

echo "== troupe serve + troupe bench"
port=18732
TROUPE_STEP_TRACE=${STEP_TRACE:-} "$bin/troupe" serve --model "$model" --load-format dummy --device cuda --port $port \
  "${pp_flags[@]}" ${SERVE_FLAGS:-} >"$out/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=1)" 2>/dev/null && break
  sleep 1
done
grep -E "GPU|KV|graphs" "$out/serve.log"
"$bin/troupe" bench --url "http://127.0.0.1:$port" --input-len 128 --output-len 128 --num-prompts 1024 \
  --concurrency 256 --vocab-size 120000 --warmup 16 --result-json "$out/bench_128_128.json" 2>&1 | tee "$out/bench_128_128.txt"
"$bin/troupe" bench --url "http://127.0.0.1:$port" --input-len 2048 --output-len 128 --num-prompts 256 \
  --concurrency 64 --vocab-size 120000 --warmup 8 --result-json "$out/bench_2048_128.json" 2>&1 | tee "$out/bench_2048_128.txt"
kill -INT $server; wait $server
tail -5 "$out/serve.log"
