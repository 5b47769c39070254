#!/usr/bin/env bash
# SIGTERM and SIGINT with requests in flight, ROUNDS times each (default 10): `troupe serve` exits
# 0, every stream ends with a final chunk and [DONE], every plain request gets its answer. Odd
# rounds give the requests time to finish (finish reason "length"); even rounds end them at a
# 1 s --shutdown-timeout (finish reason "abort"). Usage: shutdown_signal_test.sh TROUPE MODEL [ROUNDS]
set -euo pipefail
troupe=$1 model=$2 rounds=${3:-10}
work=$(mktemp -d)
server_pid=""
client_pids=()
cleanup() {
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null || true
  for p in "${client_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL ($1): $2"; [ -f "$work/server.log" ] && tail -20 "$work/server.log"; exit 1; }

one_round() {  # signal, round
  local sig=$1 round=$2 max_tokens timeout
  if [ $((round % 2)) -eq 1 ]; then max_tokens=8 timeout=60; else max_tokens=4000 timeout=1; fi
  rm -f "$work"/out.* "$work/server.log"
  "$troupe" serve --model "$model" --load-format dummy --port 0 --max-num-seqs 16 --num-kv-blocks 512 \
    --shutdown-timeout "$timeout" >/dev/null 2>"$work/server.log" &
  server_pid=$!
  local port=""
  for _ in $(seq 1 300); do
    port=$(sed -n 's/.*serving .* on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/server.log")
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || fail "$sig $round" "the server did not start"
    sleep 0.1
  done
  [ -n "$port" ] || fail "$sig $round" "no port in 30 s"
  client_pids=()
  for i in $(seq 1 20); do
    local stream=false options=""
    # stream_options without stream: true is a 400, as in vLLM: only streams send it.
    [ "$i" -le 16 ] && stream=true options=', "stream_options": {"include_usage": true}'
    curl -sS -N --max-time 60 "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' \
      -d "{\"prompt\": \"signal $i\", \"max_tokens\": $max_tokens, \"ignore_eos\": true, \"stream\": $stream$options}" \
      >"$work/out.$i" 2>"$work/err.$i" &
    client_pids+=($!)
  done
  # In flight: every request reached the engine (running or waiting).
  local in_engine=0
  for _ in $(seq 1 200); do
    in_engine=$(curl -s "http://127.0.0.1:$port/metrics" |
      awk '/^troupe:num_requests_(running|waiting)[{ ]/{s+=$2} END{print s+0}')
    [ "${in_engine%.*}" -ge 20 ] && break
    sleep 0.05
  done
  [ "${in_engine%.*}" -ge 20 ] || fail "$sig $round" "only $in_engine requests in flight"
  kill -"$sig" "$server_pid"
  local rc=0
  wait "$server_pid" || rc=$?
  server_pid=""
  [ "$rc" -eq 0 ] || fail "$sig $round" "the server exited $rc"
  for p in "${client_pids[@]}"; do wait "$p" || true; done
  client_pids=()
  local reason=length
  [ "$max_tokens" -gt 8 ] && reason=abort
  for i in $(seq 1 20); do
    if [ "$i" -le 16 ]; then
      [ "$(grep '^data: ' "$work/out.$i" | tail -1)" = "data: [DONE]" ] ||
        fail "$sig $round" "stream $i did not end with [DONE]: $(tail -c 300 "$work/out.$i") $(cat "$work/err.$i")"
      grep -q "\"finish_reason\":\"$reason\"" "$work/out.$i" || fail "$sig $round" "stream $i: no finish_reason $reason"
      grep -q '"usage":{' "$work/out.$i" || fail "$sig $round" "stream $i: no usage"
    else
      grep -q "\"finish_reason\":\"$reason\"" "$work/out.$i" ||
        fail "$sig $round" "plain request $i: $(head -c 300 "$work/out.$i") $(cat "$work/err.$i")"
    fi
  done
}

for sig in TERM INT; do
  for round in $(seq 1 "$rounds"); do one_round "$sig" "$round"; done
done
echo "SIGTERM and SIGINT, $rounds rounds each: exit 0, 16 streams ended with [DONE] and 4 answers every time"
