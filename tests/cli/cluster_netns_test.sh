#!/usr/bin/env bash
# pp=2, then tp=2, then tp=2 x pp=2 (two nodes in each namespace), as on two hosts: a veth pair joins
# them, the head at 10.R.S.1 and the worker at 10.R.S.2 (a /30 this test picks at random in
# 10.200-254.x.x, inside the namespaces it creates, so no traffic goes anywhere else). 16 plain and
# 16 streamed greedy completions through the head's HTTP (from inside its namespace) equal one
# process's, each time. For tp=2 the two ranks' Gloo connections run between the namespaces too.
# Then the worker's link is cut mid-stream and restored (a silent partition): the head notices by
# heartbeat, recovers, and 32 streams end as without the cut; and the worker is killed (SIGKILL)
# mid-stream inside its namespace and started again there: the same.
# The namespaces, the veth pair and the nodes are removed at the end by the names and pids this
# run created. Skips (exit 77, printed) only when namespaces cannot be made.
# Usage: cluster_netns_test.sh TROUPE MODEL
set -euo pipefail
source "$(dirname "$0")/cluster_lib.sh"
cluster_test "$@"
ns_head="troupe-head-$$" ns_worker="troupe-worker-$$"
cleanup() {
  cluster_cleanup
  ip netns del "$ns_head" 2>/dev/null || true   # deleting a namespace removes its veth end and the pair
  ip netns del "$ns_worker" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if ! ip netns add "$ns_head" 2>"$work/netns.err"; then
  echo "SKIPPED: cannot create a network namespace here ($(cat "$work/netns.err"))"
  exit 77
fi
ip netns add "$ns_worker"
net="10.$((200 + RANDOM % 55)).$((RANDOM % 256))"
head_ip="$net.1" worker_ip="$net.2"
ip link add "veth-h$$" netns "$ns_head" type veth peer name "veth-w$$" netns "$ns_worker"
ip -n "$ns_head" addr add "$head_ip/30" dev "veth-h$$"
ip -n "$ns_worker" addr add "$worker_ip/30" dev "veth-w$$"
for ns in "$ns_head" "$ns_worker"; do ip -n "$ns" link set lo up; done
ip -n "$ns_head" link set "veth-h$$" up
ip -n "$ns_worker" link set "veth-w$$" up

# One process on loopback: the reference.
one_process_reference "$work/ref" || fail "the reference server"

# across TP PP: a cluster file naming the two addresses (TP x PP = 2); HTTP on the head's veth
# address; the nodes end with SIGTERM.
# across TP PP: a cluster of TP x PP nodes, the first half in the head's namespace and the rest
# in the worker's (as two hosts with TP x PP / 2 executors each: tp=2 x pp=2 keeps each stage's
# TP group on one host and sends hidden states across); HTTP on the head's veth address; the
# nodes end with SIGTERM.
across() {
  local tp=$1 pp=$2 name="tp$1pp$2" n=$(($1 * $2)) pids=()
  base_port=4300
  cluster_tp=$tp write_config "$work/$name.toml" "$pp" "$n" 60
  for i in $(seq 0 $((n - 1))); do
    local ip=$head_ip
    [ "$i" -ge $((n / 2)) ] && ip=$worker_ip
    sed -i "s|^address = \"127.0.0.1:$((4300 + i))\"|address = \"$ip:$((4300 + i))\"|" "$work/$name.toml"
  done
  sed -i "s|^host = \"127.0.0.1\"|host = \"$head_ip\"|" "$work/$name.toml"
  grep -q "$worker_ip:$((4300 + n - 1))" "$work/$name.toml" || fail "config: $(cat "$work/$name.toml")"
  for i in $(seq 1 $((n - 1))); do
    local ns=$ns_head
    [ "$i" -ge $((n / 2)) ] && ns=$ns_worker
    start_node "$work/$name.toml" "worker-$i" "$work/$name-worker-$i.log" ip netns exec "$ns"
    pids+=("$node_pid")
  done
  start_node "$work/$name.toml" head "$work/$name-head.log" ip netns exec "$ns_head"
  local head_pid=$node_pid
  pids+=("$head_pid")
  wait_http "$work/$name-head.log" "$head_pid" || fail "$name: the head did not serve"
  [ "$http_host" = "$head_ip" ] || fail "$name: the head serves on $http_host, not $head_ip"
  http_prefix=(ip netns exec "$ns_head")
  all_completions "http://$head_ip:$http_port" "$work/$name"
  http_prefix=()
  for i in $(seq 1 16); do
    cmp -s "$work/ref/p.$i" "$work/$name/p.$i" || fail "$name: completion $i differs across namespaces"
    cmp -s "$work/ref/s.$i" "$work/$name/s.$i" || fail "$name: streamed completion $i differs across namespaces"
  done
  grep -q "joined head head" "$work/$name-worker-$((n - 1)).log" || fail "$name: the last worker never joined"
  kill -TERM "${pids[@]}"
  for p in "${pids[@]}"; do exits_within "$p" 10 || fail "$name: a node outlived SIGTERM by 10 s"; done
  cluster_cleanup
}
across 1 2
across 2 1
across 2 2
grep -q "rank 1 of 2 connected ($worker_ip)" "$work/tp2pp1-worker-1.log" || fail "tp=2: rank 1 did not listen on $worker_ip"

# A silent partition: the worker's link cut (no connection drops, no monitor fires) while 32
# streams run, then restored. The head notices by heartbeat_timeout_s (3 s), recovers once the
# worker answers again, and every stream ends as in the same cluster without the cut.
partitioned() {
  local name=$1 cut=$2 pids=()
  base_port=4300
  write_config "$work/$name.toml" 2 2 60
  sed -i "s|^address = \"127.0.0.1:4300\"|address = \"$head_ip:4300\"|; s|^address = \"127.0.0.1:4301\"|address = \"$worker_ip:4301\"|; s|^host = \"127.0.0.1\"|host = \"$head_ip\"|; s/^\[cluster\]\$/[cluster]\nheartbeat_timeout_s = 3/" "$work/$name.toml"
  grep -q "^heartbeat_timeout_s = 3$" "$work/$name.toml" || fail "config: $(cat "$work/$name.toml")"
  start_node "$work/$name.toml" worker-1 "$work/$name-worker.log" ip netns exec "$ns_worker"
  pids+=("$node_pid")
  start_node "$work/$name.toml" head "$work/$name-head.log" ip netns exec "$ns_head"
  pids+=("$node_pid")
  wait_http "$work/$name-head.log" "$node_pid" || fail "$name: the head did not serve"
  http_prefix=(ip netns exec "$ns_head")
  streams "http://$head_ip:$http_port" "$work/$name"
  if [ "$cut" = yes ]; then
    events_at_least 64 "$work/$name" || fail "$name: the streams did not start"
    ip -n "$ns_worker" link set "veth-w$$" down
    for _ in $(seq 1 100); do grep -q "answered no heartbeat" "$work/$name-head.log" && break; sleep 0.1; done
    grep -q "node worker-1 answered no heartbeat for [0-9.]* s" "$work/$name-head.log" ||
      fail "$name: the head did not notice the partition within 10 s"
    ip -n "$ns_worker" link set "veth-w$$" up
  elif [ "$cut" = kill ]; then
    events_at_least 64 "$work/$name" || fail "$name: the streams did not start"
    kill -9 "${pids[0]}"
    sleep 1
    start_node "$work/$name.toml" worker-1 "$work/$name-worker-again.log" ip netns exec "$ns_worker"
    pids[0]=$node_pid
  fi
  wait_streams
  [ "$cut" != no ] && { grep -q "cluster: recovered in" "$work/$name-head.log" || fail "$name: no recovery"; }
  http_prefix=()
  kill -TERM "${pids[@]}"
  for p in "${pids[@]}"; do exits_within "$p" 15 || fail "$name: a node outlived SIGTERM by 15 s"; done
  cluster_cleanup
}
partitioned cut-ref no
partitioned cut yes
partitioned kill kill
for run in cut kill; do same_streams "$work/cut-ref" "$work/$run" "$run"; done
echo "pp=2, tp=2 and tp=2 x pp=2 across two network namespaces ($head_ip, $worker_ip): 32 completions each equal to one process's; a cut link noticed by heartbeat and recovered, a killed worker restarted in its namespace recovered, 32 streams identical each"
