#include "kernels/cpu/gemm.h"

#include <omp.h>    // omp_get_max_threads, omp_set_num_threads

#include <atomic>

#include <cblas.h>  // cblas_sgemm, openblas_set_num_threads

#include "kernels/cpu/batch_invariant_gemm.h"

namespace troupe::cpu {
namespace {

// Below about two million multiply-adds a second thread costs more to wake and join than it
// saves (measured: 25x slower tiny-model steps on a loaded 2-core machine), so small GEMMs run on
// the calling thread. OpenBLAS's OpenMP build takes a GEMM's thread count from the calling
// thread's OpenMP setting (which openblas_set_num_threads sets too), so the choice is per thread:
// pipeline stages on two threads each keep their own.
constexpr int64_t kParallelMacs = int64_t{1} << 21;
std::atomic<int> g_threads_setting{0};  // set_gemm_threads; 0: the first caller's OpenMP default
std::atomic<int> g_default_threads{0};  // 0: not read yet
thread_local int t_max_threads = 0;     // set_this_thread_threads; 0: the global choice
thread_local int t_current_threads = 0;
std::atomic<bool> g_batch_invariant{false};

int max_threads() {
  if (t_max_threads > 0) return t_max_threads;
  if (const int s = g_threads_setting.load(); s > 0) return s;
  int d = g_default_threads.load();
  if (d == 0) {
    d = omp_get_max_threads();
    g_default_threads.store(d);
  }
  return d;
}

int threads_for(int64_t macs) { return macs < kParallelMacs ? 1 : max_threads(); }

void choose_threads(int64_t macs) {
  const int want = threads_for(macs);
  if (want != t_current_threads) {
    openblas_set_num_threads(want);
    t_current_threads = want;
  }
}

}  // namespace

void linear(float* y, const float* x, const float* w, const float* bias, int64_t m, int64_t n,
            int64_t k) {
  if (g_batch_invariant.load(std::memory_order_relaxed))
    return batch_invariant_linear(y, x, w, bias, m, n, k, threads_for(m * n * k));
  float beta = 0.0f;
  if (bias != nullptr) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) y[i * n + j] = bias[j];
    beta = 1.0f;
  }
  choose_threads(m * n * k);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, x, static_cast<int>(k), w, static_cast<int>(k), beta, y,
              static_cast<int>(n));
}

void set_batch_invariant(bool on) { g_batch_invariant.store(on); }
bool batch_invariant() { return g_batch_invariant.load(); }

void set_gemm_threads(int threads) {
  if (threads <= 0) return;
  g_threads_setting.store(threads);
  t_current_threads = 0;
}

void set_this_thread_threads(int threads) {
  if (threads <= 0 || threads == t_max_threads) return;
  t_max_threads = threads;
  t_current_threads = 0;
  omp_set_num_threads(threads);  // the norm, RoPE and attention loops
}

}  // namespace troupe::cpu
