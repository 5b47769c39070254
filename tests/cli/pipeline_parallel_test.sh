#!/usr/bin/env bash
# --pipeline-parallel N (-pp N, --pipeline-parallel-size N) runs N stage executors in this process
# and gives the results of one executor, over 24 prompts batched (chunked prefills, at most 4
# sequences a step) on the 4-layer demo model:
#  - greedy, with 1, 2, 3 and 4 stages, planning ahead and in lock step: identical;
#  - sampled with a seed, in lock step with one thread per stage and batch-invariant GEMMs:
#    identical. Planning ahead, a pipeline runs other batches (disjoint ones, so that stages
#    overlap), and OpenBLAS rounds a row differently in a GEMM of another height or thread split
#    (a 4-row GEMM differs from a 1-row one in most of the demo model's 151,936 logits), which
#    moves a seeded draw over this near-uniform random vocabulary now and then; without
#    --batch-invariant that happened once in lock step too, on a loaded machine (the first draw
#    of a request parted between 1 and 2 stages), so the seeded runs take it.
# One --prompt, seeded, too. A GPU where none is visible, and more stages than layers, are refused
# with one error line.
set -euo pipefail
troupe=$1 model=$2
source "$(dirname "$0")/parallel_lib.sh"  # same, expect_refusal
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
write_prompts  # $work/greedy.jsonl, $work/seeded.jsonl
common=(--model "$model" --load-format dummy --device cpu --max-num-seqs 4 --max-num-batched-tokens 32 --num-kv-blocks 64)

g=("${common[@]}" --prompts-file "$work/greedy.jsonl")
"$troupe" generate "${g[@]}" 2>/dev/null | sort >"$work/g_pp1.txt"
"$troupe" generate "${g[@]}" --pipeline-parallel 2 2>"$work/pp2.log" | sort >"$work/g_pp2.txt"
"$troupe" generate "${g[@]}" -pp 3 2>/dev/null | sort >"$work/g_pp3.txt"
"$troupe" generate "${g[@]}" --pipeline-parallel-size=4 2>/dev/null | sort >"$work/g_pp4.txt"
"$troupe" generate "${g[@]}" -pp=3 --no-async-scheduling 2>/dev/null | sort >"$work/g_pp3_lockstep.txt"
same greedy g_pp1 g_pp2 g_pp3 g_pp4 g_pp3_lockstep
grep -q "pipeline stage 1 of 2: layers \[2, 4) + LM head" "$work/pp2.log" || { echo "no stage layout logged:"; cat "$work/pp2.log"; exit 1; }

s=("${common[@]}" --prompts-file "$work/seeded.jsonl" --no-async-scheduling --batch-invariant)
"$troupe" generate "${s[@]}" --threads 1 2>/dev/null | sort >"$work/s_pp1.txt"
"$troupe" generate "${s[@]}" --threads 2 -pp 2 2>/dev/null | sort >"$work/s_pp2.txt"
"$troupe" generate "${s[@]}" --threads 3 -pp 3 2>/dev/null | sort >"$work/s_pp3.txt"
same seeded s_pp1 s_pp2 s_pp3

one=(--model "$model" --load-format dummy --device cpu --prompt "one prompt, alone" --max-tokens 12 --temperature 0.7 --seed 5 --json
     --batch-invariant)
"$troupe" generate "${one[@]}" --threads 1 2>/dev/null | tail -1 >"$work/one_pp1.json"
"$troupe" generate "${one[@]}" --threads 2 -pp 2 2>/dev/null | tail -1 >"$work/one_pp2.json"
diff "$work/one_pp1.json" "$work/one_pp2.json" || { echo "--prompt differs with two stages"; exit 1; }

# Pipeline stages on GPUs are built (tests/gpu/gpu_pipeline_test, tests/cli/cluster_gpu_test.sh); where no
# GPU is visible, asking for one is refused in one line.
if ! nvidia-smi -L >/dev/null 2>&1; then
  expect_refusal "\(no CUDA device found\|built without CUDA\)" generate --model "$model" --load-format dummy --device cuda --prompt hi -pp 2
fi
expect_refusal "cannot split 4 layers into 5" generate --model "$model" --load-format dummy --device cpu --prompt hi -pp 5
echo "24 greedy results identical with 1-4 pipeline stages (ahead and lock step), 24 seeded ones in lock step; refusals are one line"
