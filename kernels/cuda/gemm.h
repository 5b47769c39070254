#pragma once
// Linear layers through cuBLASLt: y[m, n] = x[m, k] · w[n, k]^T (+ bias[n]), bf16 operands in the
// Hugging Face [out, in] weight layout, fp32 accumulation. One handle, one workspace, and the
// algorithm chosen once per shape: the heuristic query costs more than a small GEMM, and a fixed
// algorithm and workspace are what CUDA-graph capture needs.
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace troupe::cuda {

class Gemm {
 public:
  // skinny: single-row products (batch-1 decode) go to the project's weight-streaming kernel
  // (skinny_gemm.h). Measured on an H100 (docs/benchmarks.md): at 1 row it streamed every
  // Llama-3-8B projection faster than cuBLASLt (qkv 2.0 vs 1.5 TB/s, LM head 3.1 vs 2.8); at 8 rows
  // it lost on every one; 2 to 7 rows are not measured yet, so they stay with cuBLASLt.
  explicit Gemm(size_t workspace_bytes = size_t{32} << 20, bool skinny = true);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // bf16 out; bias may be nullptr. Throws CudaError naming the failed call.
  void linear(__nv_bfloat16* y, const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias,
              int64_t m, int64_t n, int64_t k, cudaStream_t stream);
  // fp32 out, no bias: the LM head, whose logits the sampler wants in full precision.
  void linear_f32(float* y, const __nv_bfloat16* x, const __nv_bfloat16* w, int64_t m, int64_t n, int64_t k,
                  cudaStream_t stream);

  // Which cuBLASLt algorithms tune() times. The heuristic's ranking (BEST_FIT) is the baseline;
  // per_algo_id also asks it for its best configurations of every algorithm id cuBLASLt has for
  // these types, split_k adds 2-6-way split-K variants of the first eight, and tiles every tile
  // and stage count the first eight's algorithms accept: at a few hundred rows the output has too
  // few tiles to fill 132 SMs evenly, which split-K or another tile size can fix.
  struct Search {
    int heuristic = 8;
    int per_algo_id = 0;
    bool split_k = false;
    bool tiles = false;
  };
  // Times the candidates for this bf16-out shape (with or without bias) on the given buffers,
  // overwriting y, and keeps the fastest for it from now on. Synchronizes the stream; not for use
  // during graph capture. Single rows go to the skinny kernel and are not tuned.
  struct Tuning {
    float heuristic_us = 0;  // the heuristic's first choice, what plan() would have used
    float best_us = 0;
    int best = 0;            // its index among the candidates (0: the heuristic's first)
    int tried = 0;
    int algo_id = 0, tile = 0, stages = 0, split_k = 1;  // the winner's configuration
  };
  Tuning tune(__nv_bfloat16* y, const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias, int64_t m,
              int64_t n, int64_t k, const Search& search, cudaStream_t stream);

  // The tuned choices as text, one line a shape, and back: cuBLASLt's algorithm descriptor is
  // plain data, valid for the same library version on the same GPU (the caller keys the text by
  // both: tuning_key()). import_tuned() keeps the lines that parse and that cuBLASLt still
  // accepts for their shape, and returns how many it kept.
  bool tuned(int64_t m, int64_t n, int64_t k, bool bias) const;
  std::string export_tuned() const;
  int import_tuned(const std::string& text);
  // "cublasLt <version> <device name> sm<major><minor> <multiprocessors>" for the current device.
  static std::string tuning_key();

 private:
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    cudaDataType_t out_type = CUDA_R_16BF;  // C and D: bf16, or fp32 for the LM head
    bool tuned = false;  // algo was timed (tune) or imported, not the heuristic's first
  };
  using Key = std::tuple<int64_t, int64_t, int64_t, bool, bool>;  // m, n, k, fp32 out, bias
  Plan& plan(int64_t m, int64_t n, int64_t k, bool f32_out, bool bias);
  // The heuristic's first `count` algorithms for a plan's descriptors (at least one); with
  // algo_id >= 0 only configurations of that algorithm (possibly none).
  std::vector<cublasLtMatmulAlgo_t> algorithms(const Plan& p, int count, int64_t m, int64_t n, int64_t k,
                                               int algo_id = -1);
  std::vector<cublasLtMatmulAlgo_t> candidates(const Plan& p, const Search& search, int64_t m, int64_t n, int64_t k);
  void run(void* y, const void* x, const void* w, const void* bias, int64_t m, int64_t n, int64_t k,
           bool f32_out, cudaStream_t stream);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_;
  bool skinny_;
  std::map<Key, Plan> plans_;
};

}  // namespace troupe::cuda
