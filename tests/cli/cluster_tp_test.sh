#!/usr/bin/env bash
# Tensor parallel across `troupe node` processes on loopback serves what one process serves: 16
# plain and 16 streamed greedy completions sent at once through the head's HTTP are, text for
# text, those of `troupe serve` in one process —
#  - tp=2 on two nodes (each rank its own process, the sums over Gloo, the ranks meeting on the
#    head's rendezvous board);
#  - tp=2 x pp=2 on four nodes (two groups, hidden states node to node between them).
# The demo model has 4 query and 2 KV heads; its vocabulary is split over the ranks (what
# `troupe plan` prints), so the embedding sums and the logits' gather cross processes too. Greedy
# only: a rank's partial sums round differently from the whole GEMM's in the last bits, which can
# move a seeded draw over the demo's near-uniform dummy vocabulary but not a greedy pick with a
# margin (tensor_parallel_test.sh). Then SIGTERM ends every node with status 0.
# Usage: cluster_tp_test.sh TROUPE MODEL
set -euo pipefail
source "$(dirname "$0")/cluster_lib.sh"
cluster_test "$@"

one_process_reference "$work/ref" || fail "the reference server"
for i in $(seq 1 16); do [ -s "$work/ref/p.$i" ] || fail "reference completion $i is empty"; done

# run TP PP: TP x PP nodes, one executor each; workers first, then the head.
run() {
  local tp=$1 pp=$2 nodes=$(($1 * $2)) name="tp$1pp$2" pids=()
  local cfg="$work/$name.toml"
  pick_ports
  cluster_tp=$tp write_config "$cfg" "$pp" "$nodes"
  for i in $(seq 1 $((nodes - 1))); do
    start_node "$cfg" "worker-$i" "$work/$name-worker-$i.log"
    pids+=("$node_pid")
  done
  start_node "$cfg" head "$work/$name-head.log"
  pids+=("$node_pid")
  wait_http "$work/$name-head.log" "$node_pid" || fail "$name: the head did not serve"
  grep -q "tensor-parallel group.* of $tp connected" "$work/$name-head.log" || fail "$name: no group connected"
  all_completions "http://127.0.0.1:$http_port" "$work/$name"
  for i in $(seq 1 16); do
    cmp -s "$work/ref/p.$i" "$work/$name/p.$i" ||
      fail "$name: completion $i differs: '$(cat "$work/$name/p.$i")' vs one process '$(cat "$work/ref/p.$i")'"
    cmp -s "$work/ref/s.$i" "$work/$name/s.$i" || fail "$name: streamed completion $i differs from one process"
  done
  kill -TERM "${pids[@]}"
  for p in "${pids[@]}"; do
    exits_within "$p" 10 || fail "$name: node $(tr '\0' ' ' </proc/$p/cmdline) still running 10 s after SIGTERM"
    [ "$rc" -eq 0 ] || fail "$name: a node exited with status $rc"
  done
  cluster_cleanup
}

run 2 1
run 2 2
echo "tp=2 (two nodes) and tp=2 x pp=2 (four nodes) as separate node processes: 32 greedy completions each equal to one process's"
