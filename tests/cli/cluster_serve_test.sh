#!/usr/bin/env bash
# A cluster file started as separate `troupe node` processes on loopback serves what one process
# serves: 16 plain and 16 streamed greedy completions sent at once through the head's HTTP, and 4
# seeded sampled ones sent one at a time, are, text for text, those of `troupe serve` in one
# process —
#  - pp=2 on two nodes, the worker started first and the head 10 s later;
#  - pp=3 on three nodes, the head started first and the workers 10 s later.
# Then SIGTERM ends every node with status 0, and /health and /metrics showed every node up and
# every stage's steps while it served. A head with [server] api_key_file and served_model_name
# answers 401 without the key and lists both names with it, and honours chat_template,
# trust_request_chat_template, scheduling_policy, override_generation_config and metrics_prefix, and
# [model] max_model_len (/v1/models reports it, a request past it is a 400 naming max_tokens), dtype,
# kv_cache_dtype and enforce_eager; a missing key file, or a max_model_len past the model's, ends
# it at once, naming the key. Usage: cluster_serve_test.sh TROUPE MODEL
set -euo pipefail
source "$(dirname "$0")/cluster_lib.sh"
cluster_test "$@"

# One process: the reference.
one_process_reference "$work/ref" seeded || fail "the reference server"
for i in $(seq 1 16); do
  [ -s "$work/ref/p.$i" ] || fail "reference completion $i is empty"
  cmp -s "$work/ref/p.$i" "$work/ref/s.$i" || fail "reference: streamed text $i differs from the plain one"
done

# run PP NODES ORDER: ORDER "worker-first" or "head-first"; the late side starts 10 s after.
run() {
  local pp=$1 nodes=$2 order=$3 cfg="$work/pp$1.toml" head_pid workers=()
  pick_ports
  write_config "$cfg" "$pp" "$nodes"
  start_workers() {
    for i in $(seq 1 $((nodes - 1))); do
      start_node "$cfg" "worker-$i" "$work/pp$pp-worker-$i.log"
      workers+=("$node_pid")
    done
  }
  if [ "$order" = worker-first ]; then start_workers; sleep 10; fi
  start_node "$cfg" head "$work/pp$pp-head.log"
  head_pid=$node_pid
  if [ "$order" = head-first ]; then sleep 10; start_workers; fi
  wait_http "$work/pp$pp-head.log" "$head_pid" || fail "pp=$pp: the head did not serve"
  local url="http://127.0.0.1:$http_port"
  all_completions "$url" "$work/pp$pp"
  for i in $(seq 1 16); do
    cmp -s "$work/ref/p.$i" "$work/pp$pp/p.$i" ||
      fail "pp=$pp: completion $i differs: '$(cat "$work/pp$pp/p.$i")' vs one process '$(cat "$work/ref/p.$i")'"
    cmp -s "$work/ref/s.$i" "$work/pp$pp/s.$i" || fail "pp=$pp: streamed completion $i differs from one process"
  done
  seeded_completions "$url" "$work/pp$pp"
  for i in 1 2 3 4; do
    [ -s "$work/pp$pp/seeded.$i" ] && cmp -s "$work/ref/seeded.$i" "$work/pp$pp/seeded.$i" ||
      fail "pp=$pp: seeded completion $i differs: '$(cat "$work/pp$pp/seeded.$i")' vs '$(cat "$work/ref/seeded.$i")'"
  done
  curl -s "$url/health" >"$work/health.json"
  [ "$(jq -r '.status' "$work/health.json")" = ok ] || fail "pp=$pp: /health $(cat "$work/health.json")"
  [ "$(jq '[.nodes[] | select(.state == "up")] | length' "$work/health.json")" -eq "$nodes" ] ||
    fail "pp=$pp: not every node up: $(cat "$work/health.json")"
  sleep 5.5  # a heartbeat brings the stages' step counts
  curl -s "$url/metrics" >"$work/metrics.txt"
  grep -q "^troupe:cluster_nodes{state=\"up\",model_name=\"[^\"]*\"} $nodes$" "$work/metrics.txt" ||
    fail "pp=$pp: cluster_nodes metric: $(grep cluster_nodes "$work/metrics.txt")"
  for s in $(seq 0 $((pp - 1))); do
    steps=$(sed -n "s/^troupe:stage_steps_total{stage=\"$s\",[^}]*} //p" "$work/metrics.txt")
    [ -n "$steps" ] && [ "$steps" -gt 0 ] || fail "pp=$pp: stage $s ran no steps: $(grep stage_ "$work/metrics.txt")"
  done
  kill -TERM "$head_pid" "${workers[@]}"
  for p in "$head_pid" "${workers[@]}"; do
    exits_within "$p" 10 || fail "pp=$pp: node $(tr '\0' ' ' </proc/$p/cmdline) still running 10 s after SIGTERM"
    [ "$rc" -eq 0 ] || fail "pp=$pp: a node exited with status $rc"
  done
  cluster_cleanup
}

run 2 2 worker-first
run 3 3 head-first

# [server] as serve's flags: an API key from api_key_file (relative to the file), two served names.
pick_ports
write_config "$work/keyed.toml" 1 1
printf 'k-secret\n' >"$work/api.key"
sed -i 's/^port = 0$/port = 0\napi_key_file = "api.key"\nserved_model_name = ["a", "b"]\nrequest_timeout_s = 60/' "$work/keyed.toml"
# ...and serve's API flags: a template file, request templates and priorities let in, a generation
# config override, vLLM's metric names (the lines go after request_timeout_s, inside [server]).
printf 'T:{{ messages[0]["content"] }}' >"$work/t.jinja"
printf '%s\n' 'chat_template = "t.jinja"' 'trust_request_chat_template = true' 'scheduling_policy = "priority"' \
  "override_generation_config = '{\"max_new_tokens\": 3}'" 'metrics_prefix = "vllm"' >"$work/api.lines"
sed -i "/^request_timeout_s = 60$/r $work/api.lines" "$work/keyed.toml"
# ...and [model] as serve's vLLM model flags: a context of 64, the CPU's dtype spelled out, no CUDA graphs.
printf '%s\n' 'max_model_len = 64' 'dtype = "float32"' 'kv_cache_dtype = "auto"' 'enforce_eager = true' >"$work/model.lines"
sed -i "/^tensor_parallel = 1$/r $work/model.lines" "$work/keyed.toml"
start_node "$work/keyed.toml" head "$work/keyed-head.log"
wait_http "$work/keyed-head.log" "$node_pid" || fail "keyed: the head did not serve"
keyed="http://127.0.0.1:$http_port"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$keyed/v1/models")" = 401 ] || fail "keyed: /v1/models without the key was not 401"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$keyed/health")" = 200 ] || fail "keyed: /health needs no key"
models=$(curl -s -H 'Authorization: Bearer k-secret' "$keyed/v1/models")
[ "$(jq -r '[.data[].id] | join(",")' <<<"$models")" = "a,b" ] || fail "keyed: /v1/models with the key: $models"
[ "$(jq -c '[.data[].max_model_len]' <<<"$models")" = "[64,64]" ] || fail "keyed: model.max_model_len in /v1/models: $models"
post() { curl -s -H 'Authorization: Bearer k-secret' -H 'Content-Type: application/json' "$keyed/$1" -d "$2"; }
msgs='"messages": [{"role": "user", "content": "hi"}]'
[ "$(post tokenize "{$msgs}" | jq -c .tokens)" = "$(post tokenize '{"prompt": "T:hi", "add_special_tokens": false}' | jq -c .tokens)" ] ||
  fail "keyed: server.chat_template: /tokenize of a chat is not its template's text"
[ "$(post v1/chat/completions "{$msgs, \"chat_template\": \"{{ 1 }}\", \"priority\": 2, \"max_tokens\": 1}" | jq -r '.choices[0].finish_reason')" != null ] ||
  fail "keyed: a request's chat_template and priority were refused"
[ "$(post v1/completions '{"prompt": "hi", "ignore_eos": true}' | jq .usage.completion_tokens)" = 3 ] ||
  fail "keyed: server.override_generation_config's max_new_tokens did not cap the default length"
curl -s "$keyed/metrics" | grep -q '^vllm:num_requests_running' || fail "keyed: server.metrics_prefix: no vllm: series"
too_long=$(curl -s -w '\n%{http_code}' -H 'Authorization: Bearer k-secret' -H 'Content-Type: application/json' \
  "$keyed/v1/completions" -d '{"prompt": "hi", "max_tokens": 100}')
[ "${too_long##*$'\n'}" = 400 ] && grep -q '"param":"max_tokens"' <<<"$too_long" && grep -q 'context length is 64' <<<"$too_long" ||
  fail "keyed: prompt + 100 tokens over model.max_model_len 64: $too_long"
kill -TERM "$node_pid"; exits_within "$node_pid" 10 || fail "keyed: the head outlived SIGTERM"
sed -i 's/^api_key_file = "api.key"$/api_key_file = "none.key"/' "$work/keyed.toml"
set +e; "$troupe" node --config "$work/keyed.toml" --name head >/dev/null 2>"$work/nokey.log"; rc=$?; set -e
[ "$rc" -ne 0 ] && grep -q "server.api_key_file" "$work/nokey.log" || fail "keyed: a missing key file: status $rc, $(cat "$work/nokey.log")"
# A context past the model's (4096) ends the head at once, naming the key and serve's reason.
sed -i 's/^api_key_file = "none.key"$/api_key_file = "api.key"/; s/^max_model_len = 64$/max_model_len = 100000/' "$work/keyed.toml"
set +e; timeout 30 "$troupe" node --config "$work/keyed.toml" --name head >/dev/null 2>"$work/toolong.log"; rc=$?; set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "model.max_model_len: 100000 is longer than the model's context" "$work/toolong.log" ||
  fail "keyed: max_model_len past the model's: status $rc, $(cat "$work/toolong.log")"
echo "pp=2 (worker first) and pp=3 (head first) as separate node processes: 32 greedy and 4 seeded completions each equal to one process's; [server] api_key_file, served_model_name and serve's API keys honored; [model] max_model_len honored"
