#!/usr/bin/env bash
# A vLLM user's `vllm bench serve` line runs as `troupe bench` against `troupe serve` (issue 22):
# --dataset-name random, --random-input-len/--random-output-len (the server counts exactly those
# tokens), --max-concurrency, --request-rate, --percentile-metrics/--metric-percentiles (the table
# and the result show those only), --goodput with several limits after one flag, --save-result with
# --result-dir (vLLM's default file name) or --result-filename, --host/--port, --backend vllm.
# Then datasets and backends we do not have are refused by name.
# Usage: vllm_bench_line_test.sh TROUPE MODEL
set -euo pipefail
troupe=$1 model=$2
work=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.log "$work"/*.txt; do [ -f "$f" ] && { echo "== $f"; cat "$f"; }; done; exit 1; }

source "$(dirname "$0")/serve_lib.sh"
start_serve "$model" --port 0 --load-format dummy
counter() { curl -s "http://127.0.0.1:$port/metrics" | sed -n "s/^troupe:$1{model_name=\"[^\"]*\"} \([0-9.]*\)$/\1/p"; }

# 6 measured + 4 warm-up requests of 16 prompt tokens and 4 generated ones, 3 at a time.
"$troupe" bench --backend vllm --host 127.0.0.1 --port "$port" --model "$model" --dataset-name random \
  --random-input-len 16 --random-output-len 4 --num-prompts 6 --request-rate inf --max-concurrency 3 --seed 1 --ignore-eos \
  --percentile-metrics ttft,tpot,e2el --metric-percentiles 50,99 --goodput ttft:60000 tpot:60000 \
  --save-result --result-dir "$work" --disable-tqdm >"$work/table.txt" 2>"$work/bench.log" || fail "bench exited $?"
grep -Eq '^Successful requests: +6$' "$work/table.txt" || fail "not 6 successful requests"
grep -q '^P50 TTFT (ms):' "$work/table.txt" && grep -q '^P99 E2EL (ms):' "$work/table.txt" || fail "no P50 TTFT / P99 E2EL rows"
! grep -q 'ITL\|P90' "$work/table.txt" || fail "ITL or P90 shown though not asked for"
grep -q '^Request goodput (req/s):' "$work/table.txt" || fail "no goodput row"
[ "$(counter prompt_tokens_total)" = 160 ] || fail "the server counted $(counter prompt_tokens_total) prompt tokens, not 10 x 16"
[ "$(counter generation_tokens_total)" = 40 ] || fail "the server counted $(counter generation_tokens_total) generated tokens, not 10 x 4"
files=("$work"/vllm-infqps-concurrency3-demo-model-*.json)
[ "${#files[@]}" = 1 ] && [ -f "${files[0]}" ] || fail "no vLLM-named result file in $(ls "$work")"
python3 - "${files[0]}" "$model" <<'PY' || fail "result file: $(cat "${files[0]}")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["backend"] == "vllm" and r["model_id"] == sys.argv[2], r
assert r["completed"] == 6 and r["num_prompts"] == 6 and r["max_concurrency"] == 3 and r["request_rate"] == "inf", r
assert r["total_input_tokens"] == 96 and r["total_output_tokens"] == 24, r
for key in ("duration", "request_throughput", "output_throughput", "mean_ttft_ms", "median_tpot_ms", "p50_ttft_ms",
            "p99_e2el_ms", "std_e2el_ms"):
    assert isinstance(r[key], (int, float)), key
assert "mean_itl_ms" not in r and "p90_ttft_ms" not in r, r
assert abs(r["request_goodput"] - r["request_throughput"]) < 1e-9, r  # every request meets a 60 s limit
PY

# Poisson arrivals at a rate under a cap, into a file named by --result-filename.
"$troupe" bench --base-url "http://127.0.0.1:$port" --dataset-name random --random-input-len 8 --random-output-len 2 \
  --num-prompts 4 --request-rate 50 --max-concurrency 2 --save-result --result-dir "$work" --result-filename rate.json \
  >"$work/table.txt" 2>"$work/bench.log" || fail "bench --request-rate exited $?"
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["completed"] == 4 and r["request_rate"] == 50 and r["max_concurrency"] == 2, r
assert "p99_itl_ms" in r, r' "$work/rate.json" || fail "rate.json: $(cat "$work/rate.json")"

refused() {  # refused PATTERN bench-args...
  local pattern=$1; shift
  set +e; "$troupe" bench --url "http://127.0.0.1:$port" "$@" >/dev/null 2>"$work/err.txt"; local rc=$?; set -e
  [ "$rc" != 0 ] && grep -q -- "$pattern" "$work/err.txt" || fail "bench $* -> $rc"
}
refused "--dataset-name sharegpt is not supported: only random" --dataset-name sharegpt
refused "--backend tgi is not supported" --backend tgi
refused "--backend openai-chat needs --endpoint /v1/chat/completions" --backend openai-chat
refused "--percentile-metrics ttft,latency: 'latency' is not one of" --percentile-metrics ttft,latency
refused "--result-dir and --result-filename go with --save-result" --result-dir "$work"
refused "not expected: .*--dataset-path" --dataset-path x.json
refused "excludes" --host 127.0.0.1
echo "a vllm bench serve line measured troupe serve: 16-token prompts, 4-token outputs, vLLM's result keys"
