#!/usr/bin/env bash
# vLLM's serve flags that shape requests (issue 22): --chat-template FILE or TEXT (as vLLM reads
# it: a file that opens, else text with its \n decoded; a path that does not open is an error
# naming it), --trust-request-chat-template and --scheduling-policy priority opening their request
# fields, and whether /metrics needs the API key (--metrics-need-api-key; open by default, as vLLM).
# Usage: vllm_serve_flags_test.sh TROUPE MODEL
set -euo pipefail
troupe=$1 model=$2
work=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; [ -f "$work/serve.log" ] && cat "$work/serve.log"; exit 1; }

source "$(dirname "$0")/serve_lib.sh"
start() { start_serve "$model" --port 0 --load-format dummy "$@"; }
stop() { stop_serve; }
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
token_count() { "$troupe" tokenize --model "$model" --text "$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["ids"]))'; }

# A template file replaces tokenizer_config.json's: the prompt is exactly what it renders.
printf '{%% for m in messages %%}[{{ m.role }}]{{ m.content }}{%% endfor %%}' >"$work/plain.jinja"
start --chat-template "$work/plain.jinja" --api-key k3y
grep -q "chat template from $work/plain.jinja" "$work/serve.log" || fail "no log line naming the template file"
tokens=$(curl -s -H 'Authorization: Bearer k3y' -H 'Content-Type: application/json' "http://127.0.0.1:$port/v1/chat/completions" \
  -d '{"messages": [{"role": "user", "content": "Hi there"}], "max_tokens": 1}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["usage"]["prompt_tokens"])')
[ "$tokens" = "$(token_count '[user]Hi there')" ] || fail "the file's template was not used: $tokens prompt tokens"
# As vLLM: the key guards the API, not /metrics (nor /health).
[ "$(status "http://127.0.0.1:$port/metrics")" = 200 ] || fail "/metrics needs the key by default"
[ "$(status "http://127.0.0.1:$port/v1/models")" = 401 ] || fail "/v1/models open without the key"
grep -q "required on every route but /health and /metrics" "$work/serve.log" || fail "the log does not say /metrics is open"
stop

# The template as text, its \n decoded; the request fields opened by their flags; /metrics behind the key.
start --chat-template '{% for m in messages %}<{{ m.content }}>\n{% endfor %}' --trust-request-chat-template \
  --scheduling-policy priority --api-key k3y --metrics-need-api-key
auth=(-H 'Authorization: Bearer k3y')
tokens=$(curl -s "${auth[@]}" -H 'Content-Type: application/json' "http://127.0.0.1:$port/v1/chat/completions" \
  -d '{"messages": [{"role": "user", "content": "Hi there"}], "max_tokens": 1}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["usage"]["prompt_tokens"])')
[ "$tokens" = "$(token_count $'<Hi there>\n')" ] || fail "the text template (with \\n) was not used: $tokens prompt tokens"
[ "$(status "${auth[@]}" -H 'Content-Type: application/json' "http://127.0.0.1:$port/v1/completions" \
     -d '{"prompt": "Hi", "max_tokens": 1, "priority": 3}')" = 200 ] || fail "priority refused under --scheduling-policy priority"
[ "$(status "${auth[@]}" -H 'Content-Type: application/json' "http://127.0.0.1:$port/v1/chat/completions" \
     -d '{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1, "chat_template": "{{ messages[0].content }}"}')" = 200 ] ||
  fail "a request's chat_template refused under --trust-request-chat-template"
[ "$(status "http://127.0.0.1:$port/metrics")" = 401 ] || fail "/metrics open with --metrics-need-api-key"
[ "$(status "${auth[@]}" "http://127.0.0.1:$port/metrics")" = 200 ] || fail "/metrics refused the key"
stop

# Refused before serving: a path that does not open, a template that does not parse, a policy we lack.
refused() {  # refused RC PATTERN serve-args...
  local want=$1 pattern=$2; shift 2
  set +e; "$troupe" serve "$model" --load-format dummy --port 0 "$@" >/dev/null 2>"$work/err"; local rc=$?; set -e
  [ "$rc" = "$want" ] && grep -q -- "$pattern" "$work/err" || { echo "FAIL: serve $* -> $rc"; cat "$work/err"; exit 1; }
}
refused 1 "$work/none.jinja: --chat-template: no such file" --chat-template "$work/none.jinja"
refused 1 "chat template:" --chat-template '{% for m in messages %}'
set +e; "$troupe" serve "$model" --scheduling-policy lottery >/dev/null 2>"$work/err"; rc=$?; set -e
[ "$rc" != 0 ] && grep -q -- "--scheduling-policy" "$work/err" || fail "--scheduling-policy lottery accepted ($rc)"
echo "--chat-template as a file and as text; request fields opened by their flags; /metrics and the key as vLLM"
