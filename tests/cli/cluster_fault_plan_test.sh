#!/usr/bin/env bash
# Faults a node injects into itself (`troupe node --fault-plan FILE`) and the node that starts
# its own process again (`--respawn N`), on pp=2 over two nodes on loopback (the worker holds
# stage 1). Each case runs 32 streamed requests at once (a third seeded-sampled, the rest greedy; half with a stop string) and
# checks every text identical to the same cluster's without a fault:
#  - sticky: a sticky CUDA-like error at the worker's step 30. Its process ends (status 75: the
#    device context is lost), its parent starts a fresh one, which reloads and rejoins; the head
#    recovers once. Nobody restarts anything by hand.
#  - crash: the worker's process kills itself (SIGKILL) at step 30; the parent starts it again.
#  - heartbeats: the worker answers no heartbeat for 3 s from its step 20 (heartbeat_timeout_s 2):
#    the head loses it by heartbeat and recovers.
#  - delay: the worker's steps 10..39 are 50 ms late each: slower, and no loss.
# Usage: cluster_fault_plan_test.sh TROUPE MODEL
set -euo pipefail
source "$(dirname "$0")/cluster_lib.sh"
cluster_test "$@"

# run_case NAME PLAN_TEXT [RESPAWN]: the cluster with the worker under that plan; streams to the end.
run_case() {
  local name=$1
  printf '%s\n' "$2" >"$work/$name.plan.toml"
  victim_args=(--fault-plan "$work/$name.plan.toml")
  [ -z "${3:-}" ] || victim_args+=(--respawn "$3")
  start_cluster 1 2 5 "$name"
  victim_args=()
  streams "$url" "$work/$name"
  wait_streams
  same_streams "$work/ref" "$work/$name" "$name"
  settled "$url" "$name"
}

start_cluster 1 2 5 ref
streams "$url" "$work/ref"; wait_streams
stop_cluster

run_case sticky $'[[fault]]\naction = "device_error"\nsticky = true\nat_step = 30\nstage = 1' 2
log="$work/sticky-worker-1.log"
grep -q "fault plan line 1: device_error at step 30 of stage 1 rank 0: cudaErrorIllegalAddress" "$log" || fail "sticky: no injected error in the worker's log"
grep -q "node worker-1: its process lost its device context (pid [0-9]*); starting it again (restart 1 of 2)" "$log" ||
  fail "sticky: the parent did not start a fresh process"
grep -q "restart 1: runs without its fault plan" "$log" || fail "sticky: the fresh process ran the plan again"
kill -0 "$worker" || fail "sticky: the node's own process ended"
[ "$(grep -c 'loading stage' "$log")" -eq 2 ] || fail "sticky: the worker did not load its shard once per process"
[ "$(metric "$url" cluster_recovery_seconds_count)" = 1 ] || fail "sticky: recoveries $(metric "$url" cluster_recovery_seconds_count)"
metrics=$(curl -s "$url/metrics")  # whole first: grep -q ending early would fail curl's pipe
for n in head worker-1; do
  grep -q "^troupe:actor_restarts_total{.*actor=\"stage_executor\",node=\"$n\"} 1\$" <<<"$metrics" ||
    fail "sticky: actor_restarts_total of $n's stage: $(grep actor_restarts <<<"$metrics")"
done
took=("sticky $(sed -n 's/.*cluster: recovered in \([0-9.]*\) s.*/\1/p' "$work/sticky-head.log" | head -1) s")
stop_cluster

run_case crash $'[[fault]]\naction = "crash"\nat_step = 30' 1
grep -q "node worker-1: its process was killed by signal 9 (pid [0-9]*); starting it again (restart 1 of 1)" \
  "$work/crash-worker-1.log" || fail "crash: the parent did not start the process again"
[ "$(metric "$url" cluster_recovery_seconds_count)" = 1 ] || fail "crash: recoveries $(metric "$url" cluster_recovery_seconds_count)"
took+=("crash $(sed -n 's/.*cluster: recovered in \([0-9.]*\) s.*/\1/p' "$work/crash-head.log" | head -1) s")
stop_cluster

cluster_extra="heartbeat_timeout_s = 2"
run_case heartbeats $'[[fault]]\naction = "drop_heartbeats"\nat_step = 20\nduration_s = 3'
cluster_extra=""
grep -q "node worker-1 answered no heartbeat for [0-9.]* s" "$work/heartbeats-head.log" || fail "heartbeats: no loss by heartbeat"
[ "$(metric "$url" cluster_recovery_seconds_count)" -ge 1 ] || fail "heartbeats: no recovery"
stop_cluster

run_case delay $'[[fault]]\naction = "delay"\nat_step = 10\nsteps = 30\ndelay_ms = 50'
[ "$(metric "$url" node_losses_total)" = 0 ] || fail "delay: a node was lost: $(metric "$url" node_losses_total)"
grep -q "fault plan .* in force" "$work/delay-worker-1.log" || fail "delay: the plan was not announced"
stop_cluster

# A bad plan is refused before anything starts, naming the file, line and key.
printf '[[fault]]\naction = "crash"\nsticky = true\n' >"$work/bad.toml"
write_config "$work/bad-cluster.toml" 2 2
set +e; "$troupe" node --config "$work/bad-cluster.toml" --name worker-1 --fault-plan "$work/bad.toml" 2>"$work/bad.log"; rc=$?; set -e
[ "$rc" -ne 0 ] || fail "a bad fault plan was accepted"
grep -q "bad.toml:3: fault\[0\].sticky: a crash fault does not use it" "$work/bad.log" || fail "bad plan: $(cat "$work/bad.log")"

echo "recovery times: ${took[*]}"
echo "PASS"
