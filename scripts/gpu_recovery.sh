#!/usr/bin/env bash
# On a GPU machine: how long a pp=2 cluster of two `troupe node` processes on one GPU takes to
# recover, from the fault to every stage running again (the head's "recovered in"), for a model
# of Llama-3-8B's shape with dummy weights (docs/benchmarks.md, issue 16's GPU row):
#  - kill: the worker (stage 1: 16 layers + LM head) killed with SIGKILL mid-stream and started
#    again 1 s later (that second is in the time) — the reload, graph capture and rejoin;
#  - sticky: a real sticky CUDA error in the worker (its --fault-plan poisons its context at step
#    100); `--respawn 1` starts a fresh process, which reloads and rejoins.
# 32 greedy streams of 200 tokens run through each fault; every stream must finish (compared with
# the run without a fault by tests/cli/greedy_streams.py's near-tie rule). GEMM choices are kept
# in TROUPE_CACHE_DIR, so a restart reuses them, as on a real node.
#   scripts/gpu_recovery.sh TROUPE [MODEL_DIR] [WORK]   (MODEL_DIR: .cache/llama-3-8b)
set -euo pipefail
troupe=$(realpath "$1") model=$(cd "${2:-.cache/llama-3-8b}" && pwd)
here=$(cd "$(dirname "$0")/../tests/cli" && pwd)
work=${3:-$(mktemp -d)}
mkdir -p "$work"
command -v ss >/dev/null || ss() { :; }
source "$here/cluster_lib.sh"
cluster_device=cuda http_wait_s=300 cluster_join_s=300  # an 8B-shaped stage loads and captures its graphs
trap 'cluster_cleanup' EXIT
streams_to() { python3 "$here/greedy_streams.py" run "$1" "$2" 32 200; }
events() { local n; n=$(cat "$1/events" 2>/dev/null); echo "${n:-0}"; }
recovered() { sed -n 's/.*cluster: recovered in \([0-9.]*\) s.*/\1/p' "$1" | head -1; }

start_cluster 1 2 3 ref
echo "loaded: $(grep -c 'loading stage' "$work/ref-worker-1.log") stage on the worker"
streams_to "$url" "$work/ref"
stop_cluster

start_cluster 1 2 3 kill
streams_to "$url" "$work/kill" &
client=$!
for _ in $(seq 1 600); do [ "$(events "$work/kill")" -ge 64 ] && break; sleep 0.05; done
kill -9 "$worker"
sleep 1
start_node "$cfg" "$victim" "$work/kill-worker-again.log"
worker=$node_pid
wait "$client"
echo "kill: recovered in $(recovered "$work/kill-head.log") s; streams: $(python3 "$here/greedy_streams.py" compare "$work/ref" "$work/kill" | tail -1)"
stop_cluster

start_sticky_cluster sticky 100
streams_to "$url" "$work/sticky"
grep -q "cudaErrorIllegalAddress" "$work/sticky-worker-1.log" || fail "sticky: no illegal-address error"
echo "sticky: recovered in $(recovered "$work/sticky-head.log") s; streams: $(python3 "$here/greedy_streams.py" compare "$work/ref" "$work/sticky" | tail -1)"
stop_cluster
