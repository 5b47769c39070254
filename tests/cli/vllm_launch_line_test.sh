#!/usr/bin/env bash
# A vLLM user's launch line starts `troupe serve` unchanged (issue 22): the positional model,
# -tp 1, --max-model-len, --served-model-name a b (both answer, /v1/models lists both with
# max_model_len), --seed (the same unseeded requests give the same text after a restart), the
# Python/logging flags accepted with one warning each, GET /version. Then what we cannot do is
# refused by name before anything loads, and --generation-config says at start what it applied.
# Usage: vllm_launch_line_test.sh TROUPE MODEL GENERATION_CONFIG_DIR
set -euo pipefail
troupe=$1 model=$2 genconf=$3
work=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; [ -f "$work/serve.log" ] && cat "$work/serve.log"; exit 1; }

source "$(dirname "$0")/serve_lib.sh"
start() { start_serve "$@" --load-format dummy; }
stop() { stop_serve; }
get() { curl -s "http://127.0.0.1:$port$1"; }
post() { curl -s -w '\n%{http_code}' -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$port$1"; }
sampled() { post /v1/completions '{"prompt": "Once upon a time", "max_tokens": 8, "temperature": 1.0, "ignore_eos": true}' |
              python3 -c 'import json,sys; print(json.loads(sys.stdin.read().rsplit("\n",1)[0])["choices"][0]["text"])'; }

# The issue's line, word for word (plus --load-format dummy: the demo model has no weights file).
vllm_line=("$model" --host 127.0.0.1 --port 0 -tp 1 --max-model-len 4096 --enable-prefix-caching
           --disable-log-requests --served-model-name a b --seed 0 --dtype auto --enforce-eager)
start "${vllm_line[@]}"
first=$(sampled)  # the first request of this server: the seed depends on the order
get /v1/models | python3 -c '
import json, sys
cards = json.load(sys.stdin)["data"]
assert [c["id"] for c in cards] == ["a", "b"], cards
assert all(c["max_model_len"] == 4096 for c in cards), cards' || fail "/v1/models: $(get /v1/models)"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/models/b")" = 200 ] || fail "/v1/models/b"
reply=$(post /v1/completions '{"model": "b", "prompt": "Hi", "max_tokens": 2}')
[ "${reply##*$'\n'}" = 200 ] && grep -q '"model":"b"' <<<"$reply" || fail "a request naming b: $reply"
reply=$(post /v1/completions '{"model": "c", "prompt": "Hi", "max_tokens": 2}')
[ "${reply##*$'\n'}" = 404 ] || fail "a request naming c: $reply"
get /version | grep -q '"version":"[0-9]' || fail "/version: $(get /version)"
[ "$(grep -c -- '--disable-log-requests has no effect here' "$work/serve.log")" = 1 ] || fail "no single warning for --disable-log-requests"
stop
start "${vllm_line[@]}"
[ "$(sampled)" = "$first" ] || fail "--seed 0: a restarted server sampled another text"
stop

# --max-model-len below the model's: the context requests are held to; a generation config's values;
# vLLM's metric names for a board that cannot be edited.
start "$model" --port 0 --max-model-len 64 --generation-config "$genconf" --metrics-prefix vllm
get /v1/models | grep -q '"max_model_len":64' || fail "/v1/models without 64: $(get /v1/models)"
get /v1/models | grep -qF "\"id\":\"$model\"" || fail "the default name is not --model as given: $(get /v1/models)"
reply=$(post /v1/completions '{"prompt": "Hi", "max_tokens": 100}')
[ "${reply##*$'\n'}" = 400 ] && grep -q '"param":"max_tokens"' <<<"$reply" || fail "prompt + 100 > 64: $reply"
# (read whole first: grep -q would end the pipe while curl still writes, and pipefail fails it)
metrics=$(get /metrics)
grep -qF "vllm:num_requests_running{model_name=\"$model\"} 0" <<<"$metrics" || fail "no vllm: series labelled model_name"
grep -q "generation config $genconf/generation_config.json: request defaults eos_token_id=\[151645,19436\], max_new_tokens=5, temperature=0.0, top_p=0.9" \
  "$work/serve.log" || fail "no start line naming the generation config's defaults"
grep -q "not used here (nor by vLLM): bos_token_id, do_sample, transformers_version" "$work/serve.log" || fail "unused keys not named"
stop

# Refused by name, exit 2, before a model loads.
refused() {  # refused PATTERN serve-args...
  local pattern=$1; shift
  set +e; "$troupe" serve "$@" >/dev/null 2>"$work/err"; local rc=$?; set -e
  [ "$rc" = 2 ] && grep -q -- "$pattern" "$work/err" || { echo "FAIL: serve $* -> $rc"; cat "$work/err"; exit 1; }
}
refused "tensor_parallel 3 does not divide the model's 4 attention heads" "$model" --load-format dummy --device cpu -tp 3
refused "--data-parallel-size 2 with --pipeline-parallel is not built yet" "$model" --load-format dummy --device cpu -dp 2 -pp 2
refused "--dtype float16 is not supported on the CPU" "$model" --device cpu --dtype float16
refused "--kv-cache-dtype fp8 is not supported yet" "$model" --kv-cache-dtype fp8
refused "--quantization awq is not supported yet" "$model" --quantization awq
refused "--max-model-len 100000 is longer than the model's context" "$model" --load-format dummy --max-model-len 100000
set +e; "$troupe" serve "$model" --model "$model" >/dev/null 2>"$work/err"; rc=$?; set -e
[ "$rc" != 0 ] && grep -q -- "--model excludes model_dir" "$work/err" || fail "both a positional model and --model: $rc"
"$troupe" --version | grep -q '^[0-9]' || fail "troupe --version"
# `generate` takes the generation config too: greedy, and its extra EOS id is the first token here.
"$troupe" generate --model "$model" --load-format dummy --prompt "The capital of France is" --generation-config "$genconf" \
  --json 2>/dev/null | tail -1 | grep -qF '"ids":[19436]' || fail "generate --generation-config did not stop at its EOS id"
echo "the vLLM launch line serves a and b with max_model_len 4096; seeds, limits and refusals as vLLM's"
