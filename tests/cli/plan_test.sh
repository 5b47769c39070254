#!/usr/bin/env bash
# `troupe plan` on every example cluster file: a table naming every node, JSON with one rank per
# executor; a broken file ends in one "error: FILE:LINE: KEY: ..." line and exit 1.
set -euo pipefail
troupe=$1 examples=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

ranks_of() {  # the executors each example asks for (dp x tp x pp), so a new example needs a line here
  case "$(basename "$1")" in
    single-node.toml) echo 1 ;;
    dp2-two-nodes.toml) echo 2 ;;
    pp2-two-nodes.toml) echo 2 ;;
    pp3-three-nodes.toml) echo 3 ;;
    tp2-pp2-gpu.toml) echo 4 ;;
    tp4-one-node-cpu.toml) echo 4 ;;
    *) fail "no expected rank count for example $1" ;;
  esac
}

count=0
for f in "$examples"/*.toml; do
  "$troupe" plan --config "$f" >"$work/table" || fail "plan $f exited $?"
  grep -q '^total ' "$work/table" || fail "plan $f printed no total line"
  for name in $(sed -n 's/^name = "\(.*\)"$/\1/p' "$f"); do
    grep -q "^$name " "$work/table" || fail "plan $f: node $name not in the table"
  done
  "$troupe" plan --config "$f" --json >"$work/plan.json" || fail "plan --json $f exited $?"
  expected=$(ranks_of "$f")
  got=$(jq '.ranks | length' "$work/plan.json") || fail "plan --json $f is not JSON"
  [ "$got" = "$expected" ] || fail "plan --json $f: $got ranks, expected $expected"
  jq -e '([.ranks[].weight_bytes] | add) == .totals.weight_bytes' "$work/plan.json" >/dev/null ||
    fail "plan --json $f: rank bytes do not add up to the total"
  count=$((count + 1))
done
[ "$count" -ge 5 ] || fail "only $count example files in $examples"

expect_error() {  # expect_error PATTERN FILE
  set +e; "$troupe" plan --config "$2" >"$work/out" 2>"$work/err"; local rc=$?; set -e
  if [ "$rc" -ne 1 ] || [ "$(wc -l <"$work/err")" -ne 1 ] || ! grep -q "^error: $1" "$work/err"; then
    echo "FAIL: plan --config $2 -> exit $rc, stderr:"; cat "$work/err"; exit 1
  fi
}
sed 's/^roles = \["executor"\]$/roles = ["gatway"]/' "$examples/pp2-two-nodes.toml" >"$work/bad.toml"
line=$(grep -n 'gatway' "$work/bad.toml" | cut -d: -f1)
expect_error "$work/bad.toml:$line: node\[1\].roles: unknown role 'gatway' (known: gateway, scheduler, kv_manager, executor, spare)$" "$work/bad.toml"
sed 's/^tensor_parallel = 4$/tensor_parallel = 8/; s/^executors = 4$/executors = 8/' "$examples/tp4-one-node-cpu.toml" >"$work/tp8.toml"
line=$(grep -n '^tensor_parallel' "$work/tp8.toml" | cut -d: -f1)
expect_error "$work/tp8.toml:$line: model.tensor_parallel: tensor_parallel 8 does not divide the model's 4 attention heads$" "$work/tp8.toml"
printf '[model\npath = "x"\n' >"$work/syntax.toml"
expect_error "$work/syntax.toml:1: TOML syntax" "$work/syntax.toml"
sed 's/^path = .*/path = "no-such-model"/' "$examples/single-node.toml" >"$work/nomodel.toml"
expect_error "$work/nomodel.toml:[0-9]*: model.path: 'no-such-model' is neither a model folder" "$work/nomodel.toml"
expect_error "$work/none.toml: cannot open the cluster file$" "$work/none.toml"
echo "plan: $count examples placed; errors are one line with file:line: key"
