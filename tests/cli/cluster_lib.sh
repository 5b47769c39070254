# Shared by the cluster tests (sourced): write a cluster file on loopback, start and stop
# `troupe node` processes, wait for the head's HTTP port, send completions. Every wait is bounded.
# The caller sets troupe, model and work (a temp dir it removes), or has cluster_test do it. Nodes
# started here are killed by their pids on exit (cluster_cleanup), never by name.
node_pids=()
# cluster_test TROUPE MODEL: how a cluster test starts — troupe, model (made absolute), and work (a
# temp dir), which is removed at exit with every node started here.
cluster_test() {
  troupe=$1 model=$(cd "$2" && pwd)
  work=$(mktemp -d)
  trap 'cluster_cleanup; rm -rf "$work"' EXIT
}
# fail WHY: says why and the tail of every log in work, then exits 1.
fail() { echo "FAIL: $1"; for f in "$work"/*.log; do [ -f "$f" ] && { echo "== $f"; tail -20 "$f"; }; done; exit 1; }
cluster_cleanup() {
  for p in "${node_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  node_pids=()
}

# A base port for this run: 10 ports from a random start below the kernel's ephemeral range
# (32768 and up by default, where port-0 binds and outgoing connections land), none of them in use
# now by any socket (ss); up to 20 tries.
pick_ports() {
  local used
  used=$(ss -Htan 2>/dev/null | awk '{n = split($4, a, ":"); print a[n]}' | sort -u)
  for _ in $(seq 1 20); do
    base_port=$((20000 + (RANDOM % 1200) * 10))
    local clash=0
    for i in $(seq 0 9); do grep -qx "$((base_port + i))" <<<"$used" && clash=1; done
    [ "$clash" -eq 0 ] && return 0
  done
}

# write_config FILE PP NODES [JOIN_TIMEOUT]: PP stages over NODES nodes ("head", "worker-1", ...),
# each one executor, each stage cluster_tp ranks (default 1); HTTP on port 0 (the head logs the
# one it got). cluster_device=cuda puts every executor on GPU 0 (default cpu).
cluster_tp=1
write_config() {
  local file=$1 pp=$2 nodes=$3 join=${4:-60}
  {
    echo "[model]"
    echo "path = \"$model\""
    echo 'load_format = "dummy"'
    echo "device = \"${cluster_device:-cpu}\""
    echo "pipeline_parallel = $pp"
    echo "tensor_parallel = $cluster_tp"
    # A seeded stream's text must not depend on what else shares its steps (streams below).
    [ "${cluster_device:-cpu}" = cpu ] && echo "batch_invariant = true"
    echo "[scheduler]"
    echo "max_num_seqs = 8"
    echo "max_num_batched_tokens = 64"
    echo "num_kv_blocks = 256"
    echo "[server]"
    echo 'host = "127.0.0.1"'
    echo "port = 0"
    echo "[cluster]"
    echo "join_timeout_s = $join"
    for i in $(seq 0 $((nodes - 1))); do
      echo "[[node]]"
      if [ "$i" -eq 0 ]; then
        echo 'name = "head"'
        echo 'roles = ["gateway", "scheduler", "kv_manager", "executor"]'
      else
        echo "name = \"worker-$i\""
        echo 'roles = ["executor"]'
      fi
      echo "address = \"${node_host:-127.0.0.1}:$((base_port + i))\""
      # cuda (cluster_gpu_test.sh): every node's one executor on GPU 0, the one card they share.
      if [ "${cluster_device:-cpu}" = cuda ]; then echo "gpus = [0]"; fi
    done
  } >"$file"
}

# start_node FILE NAME LOG [PREFIX...]: starts `troupe node` in the background, with the flags in
# node_args if any; its pid in node_pid.
node_args=()
start_node() {
  local file=$1 name=$2 log=$3; shift 3
  "$@" "$troupe" node --config "$file" --name "$name" --threads 1 "${node_args[@]}" >/dev/null 2>"$log" &
  node_pid=$!
  node_pids+=("$node_pid")
}

# exits_within PID SECONDS: waits for PID to end; its status in rc. Fails past SECONDS.
exits_within() {
  local pid=$1 limit=$2
  for _ in $(seq 1 $((limit * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && return 1
  set +e; wait "$pid"; rc=$?; set -e
}

# wait_http LOG PID: the head's HTTP address once it serves (within http_wait_s, default 60 s), in
# http_host and http_port.
http_wait_s=60
wait_http() {
  local log=$1 pid=$2
  http_port=""
  for _ in $(seq 1 $((http_wait_s * 10))); do
    http_port=$(sed -n 's/.*serving .* on http:\/\/[0-9.]*:\([0-9]*\).*/\1/p' "$log")
    http_host=$(sed -n 's/.*serving .* on http:\/\/\([0-9.]*\):.*/\1/p' "$log")
    [ -n "$http_port" ] && return 0
    kill -0 "$pid" 2>/dev/null || { echo "the head exited:"; cat "$log"; return 1; }
    sleep 0.1
  done
  echo "the head did not serve within $http_wait_s s:"; cat "$log"; return 1
}

# Commands that reach the head's HTTP run under this prefix (e.g. `ip netns exec NS`); empty: here.
http_prefix=()

# complete URL I STREAM OUT: greedy completion of prompt I, its text (streamed deltas joined) in OUT.
complete() {
  local url=$1 i=$2 stream=$3 out=$4
  local body="{\"prompt\": \"prompt $i: $(printf 'word%.0s ' $(seq 1 "$i"))\", \"max_tokens\": $((i % 9 + 4)),
               \"temperature\": 0, \"ignore_eos\": true, \"stream\": $stream}"
  if [ "$stream" = true ]; then
    "${http_prefix[@]}" curl -sS -N --max-time 120 "$url/v1/completions" -H 'Content-Type: application/json' -d "$body" |
      sed -n 's/^data: //p' | grep -v '^\[DONE\]' | jq -j '.choices[0].text // empty' >"$out"
  else
    "${http_prefix[@]}" curl -sS --max-time 120 "$url/v1/completions" -H 'Content-Type: application/json' -d "$body" |
      jq -j '.choices[0].text' >"$out"
  fi
}

# all_completions URL DIR [N]: N (default 16) plain and N streamed completions sent at once,
# texts in DIR/{p,s}.I
all_completions() {
  local url=$1 dir=$2 count=${3:-16} pids=()
  mkdir -p "$dir"
  for i in $(seq 1 "$count"); do
    complete "$url" "$i" false "$dir/p.$i" &
    pids+=($!)
    complete "$url" "$i" true "$dir/s.$i" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
}

# seeded_completions URL DIR: 4 sampled completions (temperature 0.8, each its own seed), one at a
# time so that every step's batch is the same in any topology; texts in DIR/seeded.I.
seeded_completions() {
  local url=$1 dir=$2
  mkdir -p "$dir"
  for i in 1 2 3 4; do
    "${http_prefix[@]}" curl -sS --max-time 120 "$url/v1/completions" -H 'Content-Type: application/json' \
      -d "{\"prompt\": \"seeded $i\", \"max_tokens\": 12, \"temperature\": 0.8, \"seed\": $((i * 7)), \"ignore_eos\": true}" |
      jq -j '.choices[0].text' >"$dir/seeded.$i"
  done
}

# streams URL DIR: stream_count (default 32) streamed requests at once in the background (pids in
# stream_pids); texts in DIR/I once they end. Request I has a stop string when I is even, and is
# sampled (temperature 0.8, top_p 0.9, its own seed) when I is a multiple of 3, greedy otherwise:
# a seeded draw is keyed by (seed, output index), so a recovery's recompute must give it again.
stream_count=32
streams() {
  local url=$1 dir=$2
  mkdir -p "$dir"
  stream_pids=()
  for i in $(seq 1 "$stream_count"); do
    local stop="" sampling='"temperature": 0'
    [ $((i % 2)) -eq 0 ] && stop=', "stop": ["ing"]'
    [ $((i % 3)) -eq 0 ] && sampling="\"temperature\": 0.8, \"top_p\": 0.9, \"seed\": $((i * 11))"
    ( "${http_prefix[@]}" curl -sS -N --max-time 120 "$url/v1/completions" -H 'Content-Type: application/json' \
        -d "{\"prompt\": \"stream $i: $(printf 'word%.0s ' $(seq 1 $((i % 7 + 1))))\", \"max_tokens\": 40,
             $sampling, \"ignore_eos\": true, \"stream\": true$stop}" >"$dir/raw.$i"
      sed -n 's/^data: //p' "$dir/raw.$i" | grep -v '^\[DONE\]' | jq -j '.choices[0].text // empty' >"$dir/$i" ) &
    stream_pids+=($!)
  done
}
wait_streams() { for p in "${stream_pids[@]}"; do wait "$p" || true; done; }
# same_streams REF GOT WHAT: the stream_count streams in GOT each ended without an error event and
# with the text of REF's (which is not empty); else fail, naming WHAT.
same_streams() {
  local ref=$1 got=$2 what=$3 i
  for i in $(seq 1 "$stream_count"); do
    [ -s "$ref/$i" ] || fail "$what: reference stream $i is empty"
    grep -q '"error"' "$got/raw.$i" && fail "$what: stream $i ended with an error: $(grep '"error"' "$got/raw.$i")"
    cmp -s "$ref/$i" "$got/$i" || fail "$what: stream $i differs: '$(cat "$got/$i")' vs '$(cat "$ref/$i")'"
  done
}
# settled URL WHAT: the head runs no request and references no KV block.
settled() {
  [ "$(metric "$1" num_requests_running)" = 0 ] || fail "$2: requests still running: $(metric "$1" num_requests_running)"
  [ "$(metric "$1" kv_cache_usage_perc)" = 0 ] || fail "$2: KV blocks still referenced: $(metric "$1" kv_cache_usage_perc)"
}
# Until at least N data events have arrived over all streams in DIR (bounded: 30 s).
events_at_least() { for _ in $(seq 1 300); do [ "$(cat "$2"/raw.* 2>/dev/null | grep -c '^data: {')" -ge "$1" ] && return 0; sleep 0.1; done; return 1; }
metric() { "${http_prefix[@]}" curl -s "$1/metrics" | sed -n "s/^troupe:$2\({[^}]*}\)\{0,1\} //p" | head -1; }

# one_process_reference DIR [seeded]: `troupe serve` in one process, what the cluster tests compare
# with: 16 plain and 16 streamed greedy completions at once into DIR (and the 4 seeded ones with
# `seeded`); then SIGTERM, which must end it with status 0. Its pid joins node_pids.
one_process_reference() {
  local dir=$1 pid
  "$troupe" serve --model "$model" --load-format dummy --device cpu --threads 1 --port 0 --max-num-seqs 8 \
    --max-num-batched-tokens 64 --num-kv-blocks 256 --batch-invariant >/dev/null 2>"$work/ref.log" &
  pid=$!
  node_pids+=("$pid")
  wait_http "$work/ref.log" "$pid" || return 1
  all_completions "http://127.0.0.1:$http_port" "$dir"
  if [ "${2:-}" = seeded ]; then seeded_completions "http://127.0.0.1:$http_port" "$dir"; fi
  kill -TERM "$pid"
  wait "$pid"
}

# start_cluster TP PP MAX_RESTARTS NAME: TP x PP nodes, one executor each, the workers first,
# tp_timeout_s 5; sets cfg, head, url, and victim / worker: the last worker's name and pid (the
# one a test kills; it holds the last stage's last rank), started with the flags in victim_args.
# cluster_extra: lines added to [cluster]. The caller defines fail.
victim_args=()
cluster_extra=""
start_cluster() {
  local tp=$1 pp=$2 restarts=$3 name=$4 n=$(($1 * $2))
  pick_ports
  cfg="$work/$name.toml"
  cluster_tp=$tp write_config "$cfg" "$pp" "$n" "${cluster_join_s:-30}"
  sed -i "s/^\\[scheduler\\]\$/[scheduler]\\nmax_restarts = $restarts/; s/^\\[cluster\\]\$/[cluster]\\ntp_timeout_s = 5/" "$cfg"
  [ -z "$cluster_extra" ] || sed -i "s/^tp_timeout_s = 5\$/tp_timeout_s = 5\\n$cluster_extra/" "$cfg"
  cluster_pids=()
  for i in $(seq 1 $((n - 2))); do
    start_node "$cfg" "worker-$i" "$work/$name-worker-$i.log"
    cluster_pids+=("$node_pid")
  done
  victim="worker-$((n - 1))"
  node_args=("${victim_args[@]}")
  start_node "$cfg" "$victim" "$work/$name-$victim.log"
  node_args=()
  worker=$node_pid
  start_node "$cfg" head "$work/$name-head.log"
  head=$node_pid
  wait_http "$work/$name-head.log" "$head" || fail "$name: the cluster did not serve"
  url="http://127.0.0.1:$http_port"
}
# start_sticky_cluster NAME AT_STEP: start_cluster 1 2 3 NAME, the worker under --respawn 1 and a
# fault plan giving its stage a sticky device error at its step AT_STEP (on a GPU: a real one).
start_sticky_cluster() {
  printf '[[fault]]\naction = "device_error"\nsticky = true\nat_step = %d\nstage = 1\n' "$2" >"$work/$1-plan.toml"
  victim_args=(--respawn 1 --fault-plan "$work/$1-plan.toml")
  start_cluster 1 2 3 "$1"
  victim_args=()
}
# The nodes start_cluster started (and the victim's restarts, in worker) end on SIGTERM.
stop_cluster() {
  local p
  kill -TERM "$head" "$worker" "${cluster_pids[@]}" 2>/dev/null || true
  for p in "$head" "$worker" "${cluster_pids[@]}"; do
    kill -0 "$p" 2>/dev/null || continue
    exits_within "$p" 15 || fail "a node outlived SIGTERM by 15 s"
  done
  cluster_cleanup
}
