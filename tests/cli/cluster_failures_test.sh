#!/usr/bin/env bash
# What a cluster says when it cannot serve, each within a bound:
#  - what the build cannot run (a gateway away from the scheduler), and a gateway without a
#    tokenizer: exit 1 at once, naming the key or the file;
#  - a node that never starts: the head exits non-zero within join_timeout_s + 5 s, naming it;
#  - a head that never comes: the worker exits non-zero within join_timeout_s + 5 s, saying so;
#  - a worker started from another cluster file, or with another model under the same file: the
#    head exits non-zero naming the node and what differs;
#  - a worker killed while 8 streams run, no recovery allowed (max_restarts = 0): every stream
#    ends within 5 s with an error event naming
#    the node, /health answers 503 naming it, a new request gets 503, the head keeps running;
#  - idle: three nodes idle for 10 s use under 2 % of one core together.
# Usage: cluster_failures_test.sh TROUPE MODEL
set -euo pipefail
source "$(dirname "$0")/cluster_lib.sh"
cluster_test "$@"

# 0. What this build cannot run is refused by its key, before anything starts: a gateway on a
#    node without the scheduler, tensor parallel on cuda nodes.
sed 's/^roles = \["executor"\]$/roles = ["gateway", "executor"]/' "$(dirname "$0")/../../config/examples/pp2-two-nodes.toml" |
  sed "s|^path = .*|path = \"$model\"|" >"$work/gw.toml"
grep -q '^roles = \["gateway", "executor"\]$' "$work/gw.toml" || fail "config: $(cat "$work/gw.toml")"
set +e; "$troupe" node --config "$work/gw.toml" --name head >/dev/null 2>"$work/gw.err"; rc=$?; set -e
[ "$rc" -eq 1 ] && grep -q "^error: .*gw.toml:[0-9]*: node\[1\].roles: a gateway on a node without the scheduler is not built yet" \
  "$work/gw.err" || fail "a gateway without the scheduler was not refused by key (exit $rc): $(cat "$work/gw.err")"

# Tensor parallel on cuda nodes (not built: the GPU ranks' NCCL id is not handed over actor
# messages) is refused by its key; the same file as a cuda pipeline is accepted, and where no GPU
# is visible its node says so in one line when it loads its stage (tests/cli/cluster_gpu_test.sh
# runs GPU nodes on the GPU machine).
examples="$(dirname "$0")/../../config/examples"
set +e; "$troupe" node --config "$examples/tp2-pp2-gpu.toml" --name worker-1 >/dev/null 2>"$work/tpgpu.err"; rc=$?; set -e
[ "$rc" -eq 1 ] && grep -q "^error: .*tp2-pp2-gpu.toml:[0-9]*: model.tensor_parallel: tensor parallel on cuda cluster nodes is not built yet" \
  "$work/tpgpu.err" || fail "tp=2 on cuda nodes was not refused by key (exit $rc): $(cat "$work/tpgpu.err")"
if ! nvidia-smi -L >/dev/null 2>&1; then
  sed 's/^tensor_parallel = 2$/tensor_parallel = 1/; s/^pipeline_parallel = 2$/pipeline_parallel = 4/' \
    "$examples/tp2-pp2-gpu.toml" >"$work/pp4gpu.toml"
  set +e; timeout 20 "$troupe" node --config "$work/pp4gpu.toml" --name worker-1 >/dev/null 2>"$work/pp4gpu.err"; rc=$?; set -e
  [ "$rc" -ne 0 ] && grep -q "^error: \(no CUDA device found\|this troupe was built without CUDA\)" "$work/pp4gpu.err" ||
    fail "a cuda pipeline node without a GPU did not say so (exit $rc): $(cat "$work/pp4gpu.err")"
fi

# A gateway whose model folder has no tokenizer (a preset's shape only): an error at once naming
# the file, before anything loads or listens (it used to hang once the actor system ran).
set +e; timeout 20 "$troupe" node --config "$(dirname "$0")/../../config/examples/tp4-one-node-cpu.toml" --name local \
  >/dev/null 2>"$work/notok.err"; rc=$?; set -e
[ "$rc" -eq 1 ] && grep -q "^error: .*tokenizer.json: missing file" "$work/notok.err" ||
  fail "a gateway without a tokenizer: exit $rc, $(cat "$work/notok.err")"

# 1. A node that never starts.
pick_ports
write_config "$work/two.toml" 2 2 5
start_node "$work/two.toml" head "$work/missing-head.log"
exits_within "$node_pid" 10 || fail "the head still waits 10 s after a 5 s join timeout"
[ "$rc" -ne 0 ] || fail "the head exited 0 with a node missing"
grep -q "^error: node worker-1 (127.0.0.1:$((base_port + 1))) did not join within 5 s (cluster.join_timeout_s): " \
  "$work/missing-head.log" || fail "the head's message does not name the missing node"

# 2. A head that never comes.
start_node "$work/two.toml" worker-1 "$work/no-head.log"
exits_within "$node_pid" 10 || fail "the worker still waits 10 s after a 5 s join timeout"
[ "$rc" -ne 0 ] || fail "the worker exited 0 without a head"
grep -q "^error: no head joined node worker-1 within 5 s" "$work/no-head.log" || fail "the worker's message"

# 3a. Another cluster file: the same nodes, another scheduler setting.
sed 's/^max_num_seqs = 8$/max_num_seqs = 9/' "$work/two.toml" >"$work/other.toml"
start_node "$work/other.toml" worker-1 "$work/other-worker.log"
worker=$node_pid
start_node "$work/two.toml" head "$work/other-head.log"
exits_within "$node_pid" 15 || fail "the head did not give up on a mismatched worker"
[ "$rc" -ne 0 ] || fail "the head exited 0 with a mismatched worker"
grep -q "^error: node worker-1 (.*) refused to join: the cluster file differs (hash .* on worker-1, hash .* on head)" \
  "$work/other-head.log" || fail "the head's message does not name the differing file"
grep -q "refused head head: the cluster file differs" "$work/other-worker.log" || fail "the worker did not log the refusal"
kill -9 "$worker"; cluster_cleanup

# 3b. The same file text in two folders, each with its own model (relative path): the model differs.
mkdir -p "$work/a/model" "$work/b/model"
cp "$model/config.json" "$model"/tokenizer*.json "$work/a/model/"
cp "$model"/tokenizer*.json "$work/b/model/"
jq '.rms_norm_eps = 1e-5' "$model/config.json" >"$work/b/model/config.json"
sed "s|^path = .*|path = \"model\"|" "$work/two.toml" >"$work/a/c.toml"
cp "$work/a/c.toml" "$work/b/c.toml"
start_node "$work/b/c.toml" worker-1 "$work/model-worker.log"
worker=$node_pid
start_node "$work/a/c.toml" head "$work/model-head.log"
exits_within "$node_pid" 15 || fail "the head did not give up on a worker with another model"
[ "$rc" -ne 0 ] || fail "the head exited 0 with another model on a worker"
grep -q "refused to join: the model (config.json or safetensors headers) differs" "$work/model-head.log" ||
  fail "the head's message does not name the model"
kill -9 "$worker"; cluster_cleanup

# 4. A worker killed while streams run, with no recovery allowed (max_restarts = 0; recovery
#    within the budget is cluster_recovery_test.sh's).
start_cluster 1 2 0 kill
grep -q '^max_restarts = 0$' "$cfg" || fail "config: $(cat "$cfg")"
pids=()
for i in $(seq 1 8); do
  curl -sS -N --max-time 60 "$url/v1/completions" -H 'Content-Type: application/json' \
    -d "{\"prompt\": \"long $i\", \"max_tokens\": 3000, \"ignore_eos\": true, \"stream\": true}" >"$work/stream.$i" &
  pids+=($!)
done
for _ in $(seq 1 100); do [ "$(cat "$work"/stream.* | grep -c '^data: {')" -ge 16 ] && break; sleep 0.1; done
kill -9 "$worker"
killed_at=$(date +%s.%N)
for p in "${pids[@]}"; do wait "$p" || true; done
took=$(echo "$(date +%s.%N) - $killed_at" | bc)
[ "$(echo "$took < 5" | bc)" -eq 1 ] || fail "the streams took $took s to end after the worker died"
for i in $(seq 1 8); do
  grep -q '"error".*node worker-1 lost' "$work/stream.$i" || fail "stream $i did not end with an error naming the node: $(tail -c 300 "$work/stream.$i")"
done
code=$(curl -s -o "$work/health.json" -w '%{http_code}' "$url/health")
[ "$code" = 503 ] || fail "/health answered $code after a node was lost"
[ "$(jq -r '.nodes[] | select(.name == "worker-1") | .state' "$work/health.json")" = lost ] ||
  fail "/health does not say worker-1 is lost: $(cat "$work/health.json")"
jq -r '.error' "$work/health.json" | grep -q "node worker-1 lost" || fail "/health's error does not name the node"
code=$(curl -s -o "$work/after.json" -w '%{http_code}' "$url/v1/completions" -H 'Content-Type: application/json' \
  -d '{"prompt": "after", "max_tokens": 4}')
[ "$code" = 503 ] || fail "a request after the loss got $code: $(cat "$work/after.json")"
kill -0 "$head" || fail "the head died with its worker"
kill -TERM "$head"
exits_within "$head" 15 || fail "the head did not end on SIGTERM"
cluster_cleanup

# 5. Idle: three nodes, 10 s, under 2 % of one core together (utime + stime from /proc).
pick_ports
write_config "$work/idle.toml" 3 3 30
start_node "$work/idle.toml" worker-1 "$work/idle-w1.log"
start_node "$work/idle.toml" worker-2 "$work/idle-w2.log"
start_node "$work/idle.toml" head "$work/idle-head.log"
wait_http "$work/idle-head.log" "$node_pid" || fail "the idle cluster did not serve"
sleep 1
ticks() { local t=0; for p in "${node_pids[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
before=$(ticks); sleep 10; after=$(ticks)
hz=$(getconf CLK_TCK)
used=$(echo "scale=4; ($after - $before) / $hz" | bc)
[ "$(echo "$used < 0.2" | bc)" -eq 1 ] || fail "three idle nodes used $used s of CPU in 10 s (limit 0.2 s: 2 % of a core)"
echo "refusals and timeouts named within their bounds; a killed worker ended 8 streams in $took s; idle CPU $used s / 10 s"
