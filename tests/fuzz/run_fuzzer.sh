#!/usr/bin/env bash
# One bounded libFuzzer run for CTest (tests/fuzz/CMakeLists.txt):
#   run_fuzzer.sh FUZZER CORPUS_DIR SECONDS ARTIFACT_DIR DICT MODEL_DIR
#   run_fuzzer.sh --skip REASON
# The committed corpus is copied to a temporary folder, so the run adds nothing to the repo.
# Exit 0: no crash in SECONDS. Exit 1: a crash, a sanitizer report, a leak, a timeout or an
# out-of-memory (the input is saved in ARTIFACT_DIR; the log says how to replay it).
# Exit 77: skipped (CTest's SKIP_RETURN_CODE) — no clang/libFuzzer at configure time, or no demo
# model. libFuzzer's own error exit code is also 77, so every failure is mapped to 1 below.
set -uo pipefail

if [ "${1:-}" = "--skip" ]; then
  echo "fuzz test skipped: ${2:-}"
  exit 77
fi
[ $# -eq 6 ] || { echo "usage: $0 FUZZER CORPUS_DIR SECONDS ARTIFACT_DIR DICT MODEL_DIR" >&2; exit 1; }
fuzzer=$1 corpus=$2 seconds=$3 artifacts=$4 dict=$5 model=$6

if [ ! -s "$model/config.json" ] || [ ! -s "$model/tokenizer.json" ]; then
  echo "fuzz test skipped: no demo model in $model (scripts/fetch_test_data.sh makes it)"
  exit 77
fi
[ -x "$fuzzer" ] || { echo "no fuzzer at $fuzzer (was the troupe_fuzzers target built?)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/troupe-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$artifacts"
cp -R "$corpus"/. "$work/corpus/"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TROUPE_FUZZ_MODEL=$model
"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -max_len=4096 -print_final_stats=1 \
  -dict="$dict" -artifact_prefix="$artifacts/" "$work/corpus"
rc=$?
if [ $rc -ne 0 ]; then
  echo "fuzzer exited with $rc; the failing input is in $artifacts/ (replay: $fuzzer <file>)"
  exit 1
fi
exit 0
