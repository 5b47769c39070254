#pragma once
// A GEMM whose every output is one fixed sequence of operations, whatever the other rows:
// row i of y is bit-identical whether x has 1 row or 2048, and wherever row i sits among them.
//
// Why not OpenBLAS: its sgemm picks kernels and tile tails by the matrix's height, so a row's
// last bits depend on how many rows share its step (measured on this project's CI CPU: row 0 of
// a [M, 256] x [256, 768] product differs from M = 1 in 710 of 768 outputs at M = 16, 178 at
// M = 32, 61 at M >= 64). Greedy picks rarely notice; a seeded draw over a flat distribution
// does, so "same seed, same text" would hold only when the batch happens to be the same — not
// across other traffic, nor across a recovery's recompute (docs/architecture.md, "Batch
// invariance"). The price: prefill about 2.2x slower, decode no slower (benchmarks.md).
//
// Each output is dot(x[i], w[j]) in eight lanes over k (lane l sums k = l, l + 8, ...), the lanes
// added in a fixed tree, the k % 8 tail added in order, then the bias. Register tiles of 4 rows x
// 2 columns and their edges all run that same arithmetic (always inlined into one of two whole
// drivers: AVX2+FMA where the CPU has it, else baseline; one process always uses the same one).
#include <cstdint>

namespace troupe::cpu {

void batch_invariant_linear(float* y,           // [m, n]
                            const float* x,     // [m, k]
                            const float* w,     // [n, k]
                            const float* bias,  // [n] or nullptr
                            int64_t m, int64_t n, int64_t k, int threads);

}  // namespace troupe::cpu
