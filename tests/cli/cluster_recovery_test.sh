#!/usr/bin/env bash
# A worker node killed (SIGKILL) mid-stream and started again — as systemd or a test harness
# restarts a process — costs no request: 32 streamed requests running at once (a third of them seeded-sampled, the rest greedy; half of
# them with a stop string) all finish, each text identical to the same cluster's without the
# fault, for
#  - pp=2 on two nodes (the worker holds the last stage);
#  - tp=2 on two nodes (the worker is rank 1: rank 0 notices in its next all-reduce, bounded by
#    tp_timeout_s, or at once when the node's connection drops);
#  - tp=2 x pp=2 on four nodes (the last stage's rank 1 killed: both groups start again).
# After each: one recovery and one node loss in /metrics, /health ok with every node up, no
# request running and no KV block referenced. Five kills in a row during one batch of 64
# requests (pp=2, max_restarts = 5) cost nothing either. Then, with max_restarts = 1, two kills in a row:
# the second ends every stream with an error naming the node and /health answers 503 — no hang.
# A head killed and started again finds the worker with its shard still loaded, and serves.
# The head's log gives the recovery time (loss to every stage back), printed at the end.
# Usage: cluster_recovery_test.sh TROUPE MODEL
set -euo pipefail
source "$(dirname "$0")/cluster_lib.sh"
cluster_test "$@"

recover() {
  local tp=$1 pp=$2 name="tp$1pp$2"
  stream_count=${3:-32}
  start_cluster "$tp" "$pp" 3 "$name-ref"
  streams "$url" "$work/$name-ref"; wait_streams
  stop_cluster
  start_cluster "$tp" "$pp" 3 "$name"
  streams "$url" "$work/$name"
  events_at_least 64 "$work/$name" || fail "$name: the streams did not start"
  kill -9 "$worker"
  sleep 1
  start_node "$cfg" "$victim" "$work/$name-worker-again.log"
  worker=$node_pid
  wait_streams
  same_streams "$work/$name-ref" "$work/$name" "$name"
  grep -q "cluster: recovered in" "$work/$name-head.log" || fail "$name: the head logged no recovery"
  [ "$(metric "$url" cluster_recovery_seconds_count)" = 1 ] || fail "$name: cluster_recovery_seconds_count $(metric "$url" cluster_recovery_seconds_count)"
  [ "$(metric "$url" node_losses_total)" -ge 1 ] || fail "$name: node_losses_total $(metric "$url" node_losses_total)"
  settled "$url" "$name"
  curl -s "$url/health" >"$work/health.json"
  [ "$(jq -r '.status' "$work/health.json")" = ok ] || fail "$name: /health after recovery: $(cat "$work/health.json")"
  [ "$(jq '[.nodes[] | select(.state == "up")] | length' "$work/health.json")" -eq $((tp * pp)) ] || fail "$name: $(cat "$work/health.json")"
  took+=("$name $(sed -n 's/.*cluster: recovered in \([0-9.]*\) s.*/\1/p' "$work/$name-head.log") s")
  stop_cluster
}

took=()
recover 1 2 64  # 64 streams: the reference of the repeated kills below
recover 2 1
recover 2 2

# Five kills in a row during one batch of 64 requests (max_restarts = 5): each time the worker
# comes back, the cluster recovers, and the 64 streams still end as without any fault.
stream_count=64
start_cluster 1 2 5 repeat
streams "$url" "$work/repeat"
for k in 1 2 3 4 5; do
  events_at_least $((100 * k)) "$work/repeat" || fail "repeat: the streams stalled before kill $k"
  kill -9 "$worker"
  sleep 0.5
  start_node "$cfg" "$victim" "$work/repeat-worker-$k.log"
  worker=$node_pid
  for _ in $(seq 1 300); do [ "$(grep -c 'cluster: recovered in' "$work/repeat-head.log")" -ge "$k" ] && break; sleep 0.1; done
  [ "$(grep -c 'cluster: recovered in' "$work/repeat-head.log")" -ge "$k" ] || fail "repeat: no recovery after kill $k"
done
wait_streams
same_streams "$work/tp1pp2-ref" "$work/repeat" "repeat (five kills)"
stream_count=32
[ "$(metric "$url" cluster_recovery_seconds_count)" = 5 ] || fail "repeat: cluster_recovery_seconds_count $(metric "$url" cluster_recovery_seconds_count)"
stop_cluster

# The head killed and started again: its clients lose their connections (nothing to save there),
# but the worker keeps its loaded shard and joins the new head, which serves again.
start_cluster 1 2 3 head
kill -9 "$head"
restarted_at=$(date +%s.%N)
start_node "$cfg" head "$work/head-again.log"
head=$node_pid
wait_http "$work/head-again.log" "$head" || fail "head: the restarted head did not serve"
back_in=$(echo "$(date +%s.%N) - $restarted_at" | bc)
grep -q "head head lost" "$work/head-worker-1.log" || fail "head: the worker did not notice its head go"
[ "$(grep -c 'loading stage' "$work/head-worker-1.log")" -eq 1 ] || fail "head: the worker loaded its shard again"
complete "http://127.0.0.1:$http_port" 5 false "$work/after-head"
[ -s "$work/after-head" ] || fail "head: no completion from the restarted head"
stop_cluster

# Past the budget: max_restarts = 1, two kills.
start_cluster 1 2 1 budget
streams "$url" "$work/budget"
events_at_least 64 "$work/budget" || fail "budget: the streams did not start"
kill -9 "$worker"; sleep 1
start_node "$cfg" "$victim" "$work/budget-worker-again.log"; worker=$node_pid
for _ in $(seq 1 300); do grep -q "cluster: recovered in" "$work/budget-head.log" && break; sleep 0.1; done
grep -q "cluster: recovered in" "$work/budget-head.log" || fail "budget: no first recovery"
kill -9 "$worker"
killed_at=$(date +%s.%N)
wait_streams
ended=$(echo "$(date +%s.%N) - $killed_at" | bc)
[ "$(echo "$ended < 10" | bc)" -eq 1 ] || fail "budget: the streams took $ended s to end after the second kill"
errors=$(grep -l '"error".*node worker-1 lost.*budget of 1 spent' "$work"/budget/raw.* | wc -l)
finished=$(grep -L '"error"' "$work"/budget/raw.* | wc -l)
[ $((errors + finished)) -eq 32 ] && [ "$errors" -ge 1 ] || fail "budget: $errors streams ended with the budget error, $finished finished"
code=$(curl -s -o "$work/health.json" -w '%{http_code}' "$url/health")
[ "$code" = 503 ] || fail "budget: /health answered $code past the budget"
stop_cluster
echo "a killed worker, started again, cost no stream (pp=2, tp=2, tp=2 x pp=2; recovered in: ${took[*]}); a restarted head served again in $back_in s without the worker reloading; past the budget streams end in $ended s with an error and /health is 503"
