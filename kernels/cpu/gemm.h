#pragma once
// Linear layers as one GEMM each: y[m, n] = x[m, k] . w[n, k]^T (+ bias[n]).
// Weights keep the Hugging Face [out_features, in_features] layout, so no transpose at load.
#include <cstdint>

namespace troupe::cpu {

void linear(float* y,              // [m, n]
            const float* x,        // [m, k]
            const float* w,        // [n, k]
            const float* bias,     // [n] or nullptr
            int64_t m, int64_t n, int64_t k);

// On: every linear() of the process runs batch_invariant_linear (batch_invariant_gemm.h), so a
// row's result does not depend on the rows beside it; off (the default): OpenBLAS, faster.
// Set once at start, before any step runs.
void set_batch_invariant(bool on);
bool batch_invariant();

// Threads OpenBLAS may use; 0 keeps its default (all cores).
void set_gemm_threads(int threads);

// The same for the GEMMs and OpenMP loops this thread calls, overriding set_gemm_threads: a
// pipeline stage's thread gets its share of the cores while another stage's thread runs too.
// (OpenBLAS's OpenMP build hands a threaded GEMM one of NUM_PARALLEL thread buffers, 1 unless
// built otherwise, so two threaded GEMMs at once may take turns; a single-threaded one runs on its
// caller with none, so stages of one thread each never wait on each other.)
void set_this_thread_threads(int threads);

}  // namespace troupe::cpu
