#!/usr/bin/env bash
# Runs the official OpenAI Node SDK (tests/sdk/openai_node_test.mjs) against `troupe serve` on
# the demo model with dummy weights. Usage: openai_node_test.sh TROUPE_BINARY DEMO_MODEL_DIR SDK_DIR
# SDK_DIR is an npm prefix holding node_modules/openai (tests/sdk/fetch_sdk.sh installs it).
# Fails (never skips) when node or the SDK is missing.
set -euo pipefail
troupe=$1 model=$2 sdk=$3
here=$(cd "$(dirname "$0")" && pwd)
fetch_hint="run scripts/fetch_test_data.sh (it calls tests/sdk/fetch_sdk.sh)"
command -v node >/dev/null || { echo "FAIL: node is not on PATH; install Node 20 (scripts/install_deps.sh installs nodejs), then $fetch_hint"; exit 1; }
[ -f "$sdk/node_modules/openai/package.json" ] || { echo "FAIL: the OpenAI Node SDK is missing from $sdk; $fetch_hint"; exit 1; }
[ -f "$model/config.json" ] || { echo "FAIL: the demo model is missing from $model; run scripts/fetch_test_data.sh"; exit 1; }
sdk=$(cd "$sdk" && pwd)

work=$(mktemp -d)
server_pid= server_status=
stop_server() {  # SIGTERM, then SIGKILL after 10 s; sets server_status
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server_pid" 2>/dev/null || true
  server_status=0
  wait "$server_pid" 2>/dev/null || server_status=$?
  server_pid=
}
trap 'stop_server; rm -rf "$work"' EXIT

# The checks compare greedy texts of separate requests. A prefix-cache hit computes the prompt's
# tail in GEMMs of another height, whose last-bit rounding can flip a near-tie of the demo model's
# flat (random) logits; without the cache every request computes identically.
"$troupe" serve --model "$model" --load-format dummy --port 0 --no-prefix-caching >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!
url= name=
for _ in $(seq 1 300); do
  line=$(sed -n "s|.*serving '\(.*\)' on \(http://127\.0\.0\.1:[0-9]*\).*|\1 \2|p" "$work/serve.log")
  if [ -n "$line" ]; then read -r name url <<<"$line"; break; fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$url" ] || { echo "FAIL: troupe serve did not start:"; cat "$work/serve.log"; exit 1; }

# ESM ignores NODE_PATH: run a copy of the script from a folder whose node_modules is the SDK's.
ln -s "$sdk/node_modules" "$work/node_modules"
cp "$here/openai_node_test.mjs" "$work/"
echo "openai-node $(node -p "require('$sdk/node_modules/openai/package.json').version"), node $(node --version), server $url"
status=0
node "$work/openai_node_test.mjs" "$url" "$name" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- troupe serve log (tail) ---"; tail -n 40 "$work/serve.log"
  exit "$status"
fi
stop_server
[ "$server_status" -eq 0 ] || { echo "FAIL: troupe serve exited with status $server_status on SIGTERM:"; tail -n 20 "$work/serve.log"; exit 1; }
echo "troupe serve stopped cleanly on SIGTERM"
