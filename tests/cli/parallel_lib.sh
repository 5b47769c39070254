# Helpers the --pipeline-parallel and --tensor-parallel tests share; they read $troupe (the binary)
# and $work (the test's scratch folder), which the sourcing script sets.

same() {  # same NAME REFERENCE RUN...: every RUN's sorted output equals REFERENCE's
  local name=$1 ref=$2; shift 2
  [ "$(wc -l <"$work/$ref.txt")" -eq 24 ] || { echo "$ref: expected 24 results"; cat "$work/$ref.txt"; exit 1; }
  for run in "$@"; do
    diff "$work/$ref.txt" "$work/$run.txt" || { echo "$name: $run differs from $ref"; exit 1; }
  done
}

# Refusals: one "error:" line on stderr besides the info log, exit status 2.
expect_refusal() {
  local want=$1; shift
  set +e; "$troupe" "$@" >"$work/out.txt" 2>"$work/err.txt"; local rc=$?; set -e
  grep -v ' info ' "$work/err.txt" >"$work/err.lines" || true
  if [ "$rc" -ne 2 ] || [ "$(wc -l <"$work/err.lines")" -ne 1 ] || ! grep -q -- "^error: .*$want" "$work/err.lines"; then
    echo "FAIL: $* -> exit $rc, stderr:"; cat "$work/err.txt"; exit 1
  fi
}

# 24 prompts of growing length into $work/greedy.jsonl (temperature 0) and $work/seeded.jsonl.
write_prompts() {
  for i in $(seq 1 24); do
    words=$(printf 'word%.0s ' $(seq 1 $i))
    echo "{\"id\": $i, \"prompt\": \"prompt number $i: $words\", \"max_tokens\": $((i % 9 + 2)), \"temperature\": 0}" >>"$work/greedy.jsonl"
    echo "{\"id\": $i, \"prompt\": \"prompt $i: $words\", \"max_tokens\": $((i % 7 + 3)), \"temperature\": 0.8, \"seed\": $((i * 7))}" >>"$work/seeded.jsonl"
  done
}
