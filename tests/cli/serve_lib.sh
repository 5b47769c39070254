# Starting and stopping one `troupe serve` in the background, for the tests that talk to it over
# HTTP. The sourcing script sets $troupe (the binary) and $work (its scratch folder) and defines
# fail(); the server's log is $work/serve.log, its pid $server_pid (for the script's EXIT trap).

start_serve() {  # start_serve ARGS...: `troupe serve ARGS` in the background; sets $port once it serves
  "$troupe" serve "$@" >/dev/null 2>"$work/serve.log" &
  server_pid=$!
  port=
  for _ in $(seq 1 200); do
    port=$(sed -n 's|.*serving .* on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/serve.log")
    [ -n "$port" ] && return
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited"
    sleep 0.1
  done
  fail "the server did not start"
}

stop_serve() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=; }
