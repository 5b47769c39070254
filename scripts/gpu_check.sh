#!/usr/bin/env bash
# Every GPU correctness check of issues 5, 14 (tensor and pipeline parallel) and 16 (a GPU node killed and started
# again) in one run, for the GPU machine: kernel tests, the CUDA backend against the CPU and against transformers
# (bf16 and fp32, references made here by tests/reference/gpu_reference.py), pipeline stages against the whole
# model, pp=2 over two `troupe node` processes on one GPU (tests/cli/cluster_gpu_test.sh), and compute-sanitizer
# memcheck over short serving runs (one GPU, and two pipeline stages).
# Prints a pass/fail table last; logs go to WORK.
#
#   scripts/gpu_check.sh [BIN_DIR] [WORK]   BIN_DIR holds troupe, cuda_kernels_test, gpu_backend_test,
#                                           gpu_checkpoint_formats_test, device_communicator_test,
#                                           gpu_tensor_parallel_test, gpu_pipeline_test
#                                           (default: build/{cli,tests/...}); DEMO_MODEL names the
#                                           folder served under the sanitizer (default .cache/demo-model)
set -uo pipefail
bin=${1:-}
work=${2:-/tmp/troupe-gpu-check}
demo=${DEMO_MODEL:-.cache/demo-model}
mkdir -p "$work"
find_bin() { if [[ -n $bin ]]; then echo "$bin/$1"; else find build -name "$1" -type f | head -1; fi; }
declare -a names results
record() { names+=("$1"); results+=("$2"); }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

echo "== transformers references"
if python3 tests/reference/gpu_reference.py --fixtures tests/fixtures/models --wide "$work/wide" --out "$work/ref" \
    >"$work/reference.log" 2>&1; then record "transformers references" PASS
else record "transformers references" "FAIL (see reference.log)"; tail -5 "$work/reference.log"; fi

echo "== kernel tests"
"$(find_bin cuda_kernels_test)" >"$work/kernels.log" 2>&1
rc=$?; tail -3 "$work/kernels.log"
record "kernel tests ($(grep -c '^\[       OK' "$work/kernels.log") passed)" "$([[ $rc == 0 ]] && echo PASS || echo FAIL)"

echo "== backend tests"
TROUPE_FIXTURES_DIR=$PWD/tests/fixtures TROUPE_WIDE_MODEL_DIR=$work/wide TROUPE_HF_BF16_DIR=$work/ref \
  "$(find_bin gpu_backend_test)" >"$work/backend.log" 2>&1
rc=$?
TROUPE_FIXTURES_DIR=$PWD/tests/fixtures "$(find_bin gpu_checkpoint_formats_test)" >>"$work/backend.log" 2>&1
rc=$(( rc | $? )); grep -E "^\[  (FAILED|SKIPPED) |prompt [0-9]+:" "$work/backend.log" | head -40; tail -3 "$work/backend.log"
record "backend tests ($(grep -c '^\[       OK' "$work/backend.log") passed, $(grep -c '^\[  SKIPPED' "$work/backend.log") skipped)" \
  "$([[ $rc == 0 ]] && echo PASS || echo FAIL)"

echo "== tensor parallel: device communicators, the sharded decoder at tp 2 and 4 against tp 1"
"$(find_bin device_communicator_test)" >"$work/tp.log" 2>&1
rc=$?
TROUPE_FIXTURES_DIR=$PWD/tests/fixtures NCCL_NVLS_ENABLE=0 "$(find_bin gpu_tensor_parallel_test)" >>"$work/tp.log" 2>&1
rc=$(( rc | $? )); grep -E "^\[  (FAILED|SKIPPED) |rel_l2" "$work/tp.log" | head -40
record "tensor parallel ($(grep -c '^\[       OK' "$work/tp.log") passed, $(grep -c '^\[  SKIPPED' "$work/tp.log") skipped)" \
  "$([[ $rc == 0 ]] && echo PASS || echo FAIL)"
TROUPE_FIXTURES_DIR=$PWD/tests/fixtures compute-sanitizer --tool memcheck --error-exitcode 3 \
  "$(find_bin gpu_tensor_parallel_test)" --gtest_filter='*Fixture*' >"$work/tp_memcheck.log" 2>&1
rc=$?
summary=$(grep "ERROR SUMMARY" "$work/tp_memcheck.log" | tail -1)
record "memcheck, sharded fixtures at tp 2 and 4: ${summary:-no summary}" "$([[ $rc == 0 ]] && echo PASS || echo FAIL)"

echo "== pipeline stages: [0, k) + [k, L) against the whole model"
TROUPE_FIXTURES_DIR=$PWD/tests/fixtures TROUPE_PRESETS_DIR=$PWD/config/presets "$(find_bin gpu_pipeline_test)" \
  >"$work/pipeline.log" 2>&1
rc=$?; grep -E "^\[  (FAILED|SKIPPED) |near-tie" "$work/pipeline.log" | head -20; tail -3 "$work/pipeline.log"
record "pipeline stages ($(grep -c '^\[       OK' "$work/pipeline.log") passed, $(grep -c '^\[  SKIPPED' "$work/pipeline.log") skipped)" \
  "$([[ $rc == 0 ]] && echo PASS || echo FAIL)"

echo "== pp=2 through HTTP: one process, two troupe node processes on one GPU, a node killed and started again"
tests/cli/cluster_gpu_test.sh "$(find_bin troupe)" "$demo" "$work/cluster_gpu" >"$work/cluster_gpu.log" 2>&1
rc=$?; grep -E "against|recovered in|FAIL|PASS" "$work/cluster_gpu.log"
record "pp=2 over HTTP, one process and two nodes, kill + restart" "$([[ $rc == 0 ]] && echo PASS || echo FAIL)"

# signal_troupe_under PID SIG: SIG to every troupe process descended from PID.
signal_troupe_under() {
  local p
  for p in $(pgrep -P "$1"); do
    [[ $(readlink "/proc/$p/exe") == */troupe ]] && kill -"$2" "$p"
    signal_troupe_under "$p" "$2"
  done
}

# memcheck_serve NAME FLAGS...: compute-sanitizer memcheck over `troupe serve` on the GPU answering 8 mixed
# requests (greedy and sampled, plain and streamed), then a clean shutdown; a row named NAME.
memcheck_serve() {
local name=$1; shift
echo "== compute-sanitizer memcheck over a short serving run: $name"
port=18731
compute-sanitizer --tool memcheck --log-file "$work/memcheck_$name.log" \
  "$(find_bin troupe)" serve --model "$demo" --load-format dummy --device cuda --port $port \
  --max-num-seqs 16 --max-num-batched-tokens 256 --gpu-memory-utilization 0.3 "$@" >"$work/serve_$name.log" 2>&1 &
server=$!
ok=0
for _ in $(seq 1 240); do
  if python3 - "$port" <<'PY' 2>/dev/null; then ok=1; break; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=1)
PY
  sleep 1
done
if [[ $ok == 1 ]]; then
  python3 - "$port" >"$work/requests_$name.log" 2>&1 <<'PY'
import json, sys, threading, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/v1/completions"
def post(body):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=600).read().decode()
bodies = [{"model": "demo-model", "prompt": "word " * n, "max_tokens": 24, "temperature": t, "stream": s}
          for n, t, s in [(5, 0, False), (40, 0.8, True), (200, 0, False), (17, 1.0, True)] * 2]
threads = [threading.Thread(target=lambda b=b: print(post(b)[:200])) for b in bodies]
for t in threads: t.start()
for t in threads: t.join()
PY
  echo "requests: rc $?"
fi
# SIGINT to troupe itself (compute-sanitizer does not forward it), found by its pid among the
# sanitizer's descendants (troupe is not always its direct child: `pkill -P` signalled another
# process on the H100 and the run hung): a clean shutdown, then the summary.
signal_troupe_under "$server" INT
wait $server
summary=$(grep "ERROR SUMMARY" "$work/memcheck_$name.log" | tail -1)
echo "memcheck: $summary"
record "memcheck, serving 8 requests, $name: ${summary:-no summary}" \
  "$([[ $ok == 1 && $summary == *"0 errors"* ]] && echo PASS || echo FAIL)"
}
memcheck_serve one-gpu
memcheck_serve pp2 --pipeline-parallel 2

echo
printf '%-70s %s\n' CHECK RESULT
for i in "${!names[@]}"; do printf '%-70s %s\n' "${names[$i]}" "${results[$i]}"; done
