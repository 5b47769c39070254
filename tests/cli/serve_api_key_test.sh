#!/usr/bin/env bash
# `troupe serve` takes its API key from --api-key-file, $TROUPE_API_KEY or $VLLM_API_KEY, logs
# which one (never the key itself), and then requires it: "bearer" in any case works, a wrong key
# gets 401, /health stays open.
set -euo pipefail
troupe=$1 model=$2
work=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT

# serve_with KEY SOURCE "VAR=VALUE ..." [serve flags...]: starts a server with exactly those
# environment variables of the two, checks it, stops it.
serve_with() {
  local key=$1 source=$2 vars=$3; shift 3
  # shellcheck disable=SC2086  # vars: words on purpose
  env -u TROUPE_API_KEY -u VLLM_API_KEY $vars "$troupe" serve --model "$model" --load-format dummy --port 0 "$@" \
    >/dev/null 2>"$work/serve.log" &
  server_pid=$!
  local port=
  for _ in $(seq 1 200); do
    port=$(sed -n 's|.*serving .* on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/serve.log")
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "FAIL: the server did not start:"; cat "$work/serve.log"; exit 1; }
  grep -q "API key from $source" "$work/serve.log" || { echo "FAIL: no 'API key from $source' in:"; cat "$work/serve.log"; exit 1; }
  if grep -qF -- "$key" "$work/serve.log"; then echo "FAIL: the log shows the key:"; cat "$work/serve.log"; exit 1; fi
  status() { curl -s -o /dev/null -w '%{http_code}' "$@" "http://127.0.0.1:$port/v1/models"; }
  [ "$(status -H "Authorization: bearer $key")" = 200 ] || { echo "FAIL ($source): lowercase bearer refused"; exit 1; }
  [ "$(status -H "Authorization: Bearer $key")" = 200 ] || { echo "FAIL ($source): the key refused"; exit 1; }
  [ "$(status -H "Authorization: Bearer ${key}x")" = 401 ] || { echo "FAIL ($source): a wrong key accepted"; exit 1; }
  [ "$(status)" = 401 ] || { echo "FAIL ($source): no key accepted"; exit 1; }
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ] || { echo "FAIL: /health"; exit 1; }
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

printf 'key-from-file-9f2\n' >"$work/api.key"
serve_with key-from-file-9f2 "--api-key-file $work/api.key" "TROUPE_API_KEY=not-this-one" --api-key-file "$work/api.key"
serve_with key-from-troupe-env "TROUPE_API_KEY" "TROUPE_API_KEY=key-from-troupe-env VLLM_API_KEY=not-this-one"
serve_with key-from-vllm-env "VLLM_API_KEY" "VLLM_API_KEY=key-from-vllm-env"
echo "keys from the file and both environment variables: required, logged by source only"
