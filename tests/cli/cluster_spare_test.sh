#!/usr/bin/env bash
# A spare node takes over: pp=2 on a head and a worker, with a third node of role "spare". The
# worker is killed (SIGKILL) mid-stream and never comes back; after cluster.spare_after_s (1 s)
# the spare loads the worker's shard, the head starts the stages again with it, and 32 streamed
# requests (greedy or seeded, half with a stop string) all finish identical to the same cluster's before
# the fault. /health is ok afterwards with the worker "replaced" and the spare "up". Run twice:
# a spare that loads when needed, and one with preload = true (loaded at start: it takes over
# without loading; only the worker's stage: the head's loss ends the cluster). The head logs each recovery's time, printed at the end.
# Usage: cluster_spare_test.sh TROUPE MODEL
set -euo pipefail
source "$(dirname "$0")/cluster_lib.sh"
cluster_test "$@"

took=()
takeover() {
  local name=$1 preload=$2
  pick_ports
  local cfg="$work/$name.toml"
  write_config "$cfg" 2 2 30
  sed -i 's/^\[cluster\]$/[cluster]\nspare_after_s = 1/' "$cfg"
  printf '[[node]]\nname = "spare-2"\naddress = "127.0.0.1:%d"\nroles = ["spare"]\npreload = %s\n' \
    $((base_port + 2)) "$preload" >>"$cfg"
  start_node "$cfg" spare-2 "$work/$name-spare.log"; local spare=$node_pid
  start_node "$cfg" worker-1 "$work/$name-worker.log"; local worker=$node_pid
  start_node "$cfg" head "$work/$name-head.log"; local head=$node_pid
  wait_http "$work/$name-head.log" "$head" || fail "$name: the cluster did not serve"
  url="http://127.0.0.1:$http_port"
  [ "$(curl -s "$url/health" | jq -r '.nodes[] | select(.name == "spare-2") | .state')" = spare ] ||
    fail "$name: /health before: $(curl -s "$url/health")"
  streams "$url" "$work/$name-ref"; wait_streams
  streams "$url" "$work/$name"
  events_at_least 64 "$work/$name" || fail "$name: the streams did not start"
  kill -9 "$worker"
  wait_streams
  same_streams "$work/$name-ref" "$work/$name" "$name"
  grep -q "node worker-1 did not come back within 1 s (cluster.spare_after_s); spare spare-2 takes its shards" \
    "$work/$name-head.log" || fail "$name: the head did not hand the shards to the spare"
  grep -q "node spare-2: stage 1 executor started" "$work/$name-spare.log" || fail "$name: the spare runs no stage"
  curl -s "$url/health" >"$work/health.json"
  [ "$(jq -r '.status' "$work/health.json")" = ok ] || fail "$name: /health after: $(cat "$work/health.json")"
  [ "$(jq -r '.nodes[] | select(.name == "worker-1") | .state' "$work/health.json")" = replaced ] ||
    fail "$name: worker-1 in /health: $(cat "$work/health.json")"
  [ "$(jq -r '.nodes[] | select(.name == "spare-2") | .state' "$work/health.json")" = up ] ||
    fail "$name: spare-2 in /health: $(cat "$work/health.json")"
  settled "$url" "$name"
  took+=("$name $(sed -n 's/.*cluster: recovered in \([0-9.]*\) s.*/\1/p' "$work/$name-head.log") s")
  if [ "$preload" = true ]; then
    grep -q "loading stage 1" "$work/$name-spare.log" || fail "$name: the spare did not preload"
    grep -q "loading the shard of rank" "$work/$name-spare.log" && fail "$name: the preloaded spare loaded again"
    grep -q "loading stage 0" "$work/$name-spare.log" && fail "$name: the spare preloaded the head's stage, which no spare takes"
  else
    grep -q "node spare-2: loading the shard of rank 1" "$work/$name-spare.log" || fail "$name: the spare loaded nothing"
  fi
  kill -TERM "$head" "$spare"
  for p in "$head" "$spare"; do exits_within "$p" 15 || fail "$name: a node outlived SIGTERM by 15 s"; done
  cluster_cleanup
}

takeover lazy false
takeover preloaded true
echo "a spare took a killed worker's shards; every stream identical (recovered in: ${took[*]}, including spare_after_s = 1 s)"
echo "PASS"
