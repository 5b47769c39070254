#!/usr/bin/env bash
# pp=2, then tp=2, with each node in its own network namespace, as on two hosts: a veth pair joins
# them, the head at 10.R.S.1 and the worker at 10.R.S.2 (a /30 this test picks at random in
# 10.200-254.x.x, inside the namespaces it creates, so no traffic goes anywhere else). 16 plain and
# 16 streamed greedy completions through the head's HTTP (from inside its namespace) equal one
# process's, each time. For tp=2 the two ranks' Gloo connections run between the namespaces too.
# The namespaces, the veth pair and the nodes are removed at the end by the names and pids this
# run created. Skips (exit 77, printed) only when namespaces cannot be made.
# Usage: cluster_netns_test.sh TROUPE MODEL
set -euo pipefail
troupe=$1 model=$(cd "$2" && pwd)
work=$(mktemp -d)
source "$(dirname "$0")/cluster_lib.sh"
ns_head="troupe-head-$$" ns_worker="troupe-worker-$$" ref_pid=""
cleanup() {
  cluster_cleanup
  [ -n "$ref_pid" ] && kill -9 "$ref_pid" 2>/dev/null
  ip netns del "$ns_head" 2>/dev/null || true   # deleting a namespace removes its veth end and the pair
  ip netns del "$ns_worker" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $1"; for f in "$work"/*.log; do echo "== $f"; tail -15 "$f"; done; exit 1; }

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
"$troupe" serve --model "$model" --load-format dummy --device cpu --threads 1 --port 0 --max-num-seqs 8 \
  --max-num-batched-tokens 64 --num-kv-blocks 256 >/dev/null 2>"$work/ref.log" &
ref_pid=$!
wait_http "$work/ref.log" "$ref_pid" || fail "reference server"
all_completions "http://127.0.0.1:$http_port" "$work/ref"
kill -TERM "$ref_pid"; wait "$ref_pid" || true; ref_pid=""

# across TP PP: a cluster file naming the two addresses (TP x PP = 2); HTTP on the head's veth
# address; the nodes end with SIGTERM.
across() {
  local tp=$1 pp=$2 name="tp$1pp$2"
  base_port=4300
  cluster_tp=$tp write_config "$work/$name.toml" "$pp" 2 60
  sed -i "s|^address = \"127.0.0.1:4300\"|address = \"$head_ip:4300\"|; s|^address = \"127.0.0.1:4301\"|address = \"$worker_ip:4301\"|; s|^host = \"127.0.0.1\"|host = \"$head_ip\"|" "$work/$name.toml"
  grep -q "$worker_ip:4301" "$work/$name.toml" || fail "config: $(cat "$work/$name.toml")"
  start_node "$work/$name.toml" worker-1 "$work/$name-worker.log" ip netns exec "$ns_worker"
  local worker_pid=$node_pid
  start_node "$work/$name.toml" head "$work/$name-head.log" ip netns exec "$ns_head"
  local head_pid=$node_pid
  wait_http "$work/$name-head.log" "$head_pid" || fail "$name: the head did not serve"
  [ "$http_host" = "$head_ip" ] || fail "$name: the head serves on $http_host, not $head_ip"
  http_prefix=(ip netns exec "$ns_head")
  all_completions "http://$head_ip:$http_port" "$work/$name"
  http_prefix=()
  for i in $(seq 1 16); do
    cmp -s "$work/ref/p.$i" "$work/$name/p.$i" || fail "$name: completion $i differs across namespaces"
    cmp -s "$work/ref/s.$i" "$work/$name/s.$i" || fail "$name: streamed completion $i differs across namespaces"
  done
  grep -q "joined head head" "$work/$name-worker.log" || fail "$name: the worker never joined"
  kill -TERM "$head_pid" "$worker_pid"
  for p in "$head_pid" "$worker_pid"; do exits_within "$p" 10 || fail "$name: a node outlived SIGTERM by 10 s"; done
  cluster_cleanup
}
across 1 2
across 2 1
grep -q "rank 1 of 2 connected ($worker_ip)" "$work/tp2pp1-worker.log" || fail "tp=2: rank 1 did not listen on $worker_ip"
echo "pp=2 and tp=2 across two network namespaces ($head_ip, $worker_ip): 32 completions each equal to one process's"
