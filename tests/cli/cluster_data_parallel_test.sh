#!/usr/bin/env bash
# `[model] data_parallel = 2` as two `troupe node` processes on loopback — replica 0 on the head,
# replica 1 on the worker, round_robin routing from the file — serves what one process serves:
# greedy completions (plain and streamed, sent at once) and seeded sampled ones (one at a time)
# are, text for text, those of `troupe serve` in one process (batch-invariant kernels, so the
# split of the batch over replicas cannot change a token), and /metrics counts routed requests for
# both replicas. Then the worker is killed (SIGKILL) under streams: replica 1 pauses, its streams
# move to replica 0 and end there, as in one process, before the worker is back; new requests go
# to replica 0; started again, replica 1 alone is relaunched (one recovery, counted for it). Killed again past [scheduler] max_restarts, replica 1 is gone: the gateway
# moves its requests to replica 0, and again every stream ends as in one process. A spare node
# with replicas is refused by key (not built). Kept short: CI runs it on 2 cores.
# Usage: cluster_data_parallel_test.sh TROUPE MODEL
set -euo pipefail
source "$(dirname "$0")/cluster_lib.sh"
cluster_test "$@"

stream_count=8
# replica_metric NAME R: troupe:NAME{replica="R"} from the head's /metrics (url set below).
replica_metric() { curl -s "$url/metrics" | sed -n "s/^troupe:$1{.*replica=\"$2\"} //p"; }

# One process: the reference (the flags write_config's file gives a cluster).
"$troupe" serve --model "$model" --load-format dummy --device cpu --threads 1 --port 0 --max-num-seqs 8 \
  --max-num-batched-tokens 64 --num-kv-blocks 256 --batch-invariant >/dev/null 2>"$work/ref.log" &
ref_pid=$!
node_pids+=("$ref_pid")
wait_http "$work/ref.log" "$ref_pid" || fail "the reference server"
ref_url="http://127.0.0.1:$http_port"
all_completions "$ref_url" "$work/ref" 6
seeded_completions "$ref_url" "$work/ref"
streams "$ref_url" "$work/ref-streams"
wait_streams
kill -TERM "$ref_pid"
wait "$ref_pid"

pick_ports
cfg="$work/dp2.toml"
write_config "$cfg" 1 2 30
sed -i 's/^pipeline_parallel = 1$/pipeline_parallel = 1\ndata_parallel = 2\ndata_parallel_policy = "round_robin"/;
        s/^\[scheduler\]$/[scheduler]\nmax_restarts = 1/' "$cfg"
"$troupe" plan --config "$cfg" >"$work/plan.txt" || fail "plan: $(cat "$work/plan.txt")"
grep -q "data_parallel 2 x tensor_parallel 1 x pipeline_parallel 1 = 2 executors" "$work/plan.txt" ||
  fail "plan does not show the replicas: $(cat "$work/plan.txt")"
# Not built: a spare with replicas (two recoveries could take one spare), refused naming the key.
{ cat "$cfg"; printf '[[node]]\nname = "spare"\naddress = "127.0.0.1:%d"\nroles = ["spare"]\n' $((base_port + 5)); } \
  >"$work/spare.toml"
set +e; "$troupe" node --config "$work/spare.toml" --name head >/dev/null 2>"$work/spare.err"; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "spare.toml:[0-9]*: node\[2\].roles: spare nodes with model.data_parallel > 1 are not built yet" \
  "$work/spare.err" || fail "a spare with data_parallel: status $rc, $(cat "$work/spare.err")"

start_node "$cfg" worker-1 "$work/worker.log"
worker=$node_pid
start_node "$cfg" head "$work/head.log"
head=$node_pid
wait_http "$work/head.log" "$head" || fail "the cluster did not serve"
url="http://127.0.0.1:$http_port"
grep -q "2 replicas of 1 pipeline stage(s), round_robin routing" "$work/head.log" || fail "head log: no replicas"

all_completions "$url" "$work/dp" 6
seeded_completions "$url" "$work/dp"
for f in "$work"/ref/*; do
  [ -s "$f" ] || fail "reference $(basename "$f") is empty"
  cmp -s "$f" "$work/dp/$(basename "$f")" ||
    fail "$(basename "$f") differs: '$(cat "$work/dp/$(basename "$f")")' vs one process '$(cat "$f")'"
done
curl -s "$url/metrics" >"$work/metrics.txt"
for r in 0 1; do
  routed=$(sed -n "s/^troupe:routed_requests_total{.*replica=\"$r\"} //p" "$work/metrics.txt")
  [ "${routed:-0}" -ge 4 ] || fail "replica $r was routed ${routed:-no} requests: $(grep routed "$work/metrics.txt")"
done

# Replica 1's node killed under streams: replica 1 pauses while it recovers, its streams move to
# replica 0 and end there before the node is back (text as in one process), and a request sent
# meanwhile goes to replica 0. Then the node starts again and replica 1 alone is relaunched.
streams "$url" "$work/killed"
events_at_least 16 "$work/killed" || fail "the streams did not start"
kill -9 "$worker"
for _ in $(seq 1 100); do [ "$(replica_metric replica_paused 1)" = 1 ] && break; sleep 0.1; done
[ "$(replica_metric replica_paused 1)" = 1 ] || fail "replica 1 is not paused: $(grep 'replica' "$work/head.log" | tail -3)"
routed_before=$(replica_metric routed_requests_total 1)
wait_streams
same_streams "$work/ref-streams" "$work/killed" "worker killed"
complete "$url" 3 false "$work/while-paused"
cmp -s "$work/ref/p.3" "$work/while-paused" || fail "a completion while replica 1 recovers: '$(cat "$work/while-paused")'"
[ "$(replica_metric routed_requests_total 1)" = "$routed_before" ] || fail "requests were routed to a paused replica"
[ "$(replica_metric replica_paused 1)" = 1 ] || fail "replica 1 recovered without its node: the streams did not end during the pause"
start_node "$cfg" worker-1 "$work/worker-again.log"
worker=$node_pid
for _ in $(seq 1 300); do grep -q "cluster: recovered in" "$work/head.log" && break; sleep 0.1; done
[ "$(grep -c "cluster: recovered in" "$work/head.log")" = 1 ] || fail "not one recovery: $(grep 'cluster:' "$work/head.log")"
[ "$(grep -c "recovering (1 of" "$work/head.log")" = 1 ] || fail "more than replica 1 recovered"
[ "$(replica_metric replica_paused 1)" = 0 ] || fail "replica 1 still paused after its recovery"
[ "$(replica_metric replica_recoveries_total 1)" = 1 ] && [ "$(replica_metric replica_recoveries_total 0)" = 0 ] ||
  fail "recoveries per replica: $(curl -s "$url/metrics" | grep replica_recoveries)"
[ "$(metric "$url" node_losses_total)" -ge 1 ] || fail "node_losses_total $(metric "$url" node_losses_total)"
[ "$(jq -r '.status' <<<"$(curl -s "$url/health")")" = ok ] || fail "/health after recovery: $(curl -s "$url/health")"

# Killed again, past max_restarts = 1 and not started again: replica 1 is gone, and the gateway
# moves its requests to replica 0, which recomputes them: still every stream as in one process.
streams "$url" "$work/gone"
events_at_least 16 "$work/gone" || fail "the streams did not start (2)"
kill -9 "$worker"
wait_streams
same_streams "$work/ref-streams" "$work/gone" "replica 1 gone"
grep -q "replica 1 is gone; the gateway moves its requests to the other replicas" "$work/head.log" ||
  fail "the head did not give replica 1 up: $(grep 'cluster:' "$work/head.log")"

kill -TERM "$head"
for p in "$head"; do
  exits_within "$p" 10 || fail "a node still runs 10 s after SIGTERM"
  [ "$rc" -eq 0 ] || fail "a node exited with status $rc"
done
echo "dp=2 over two nodes serves as one process; replica 1's node killed and back, then killed for good: every stream as in one process"
