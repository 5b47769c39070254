#include "kernels/cuda/gemm.h"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <utility>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/skinny_gemm.h"

namespace troupe::cuda {

Gemm::Gemm(size_t workspace_bytes, bool skinny) : workspace_bytes_(workspace_bytes), skinny_(skinny) {
  TROUPE_CUDA_CHECK(cublasLtCreate(&handle_));
  TROUPE_CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
}

Gemm::~Gemm() {
  for (auto& [key, p] : plans_) {
    cublasLtMatrixLayoutDestroy(p.a);
    cublasLtMatrixLayoutDestroy(p.b);
    cublasLtMatrixLayoutDestroy(p.c);
    cublasLtMatmulDescDestroy(p.desc);
  }
  cudaFree(workspace_);
  cublasLtDestroy(handle_);
}

// Row-major y = x · w^T is column-major y^T = w^T' · x^T: A is w seen as a column-major [k, n]
// matrix, transposed; B is x as a column-major [k, m]; C is y as a column-major [n, m].
Gemm::Plan& Gemm::plan(int64_t m, int64_t n, int64_t k, bool f32_out, bool bias) {
  const Key key{m, n, k, f32_out, bias};
  if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  Plan p;
  TROUPE_CUDA_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
  TROUPE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof transa));
  TROUPE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof transb));
  if (bias) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    TROUPE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue));
    const cudaDataType_t bias_type = CUDA_R_16BF;
    TROUPE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                                     sizeof bias_type));
  }
  p.out_type = f32_out ? CUDA_R_32F : CUDA_R_16BF;
  TROUPE_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, k, n, k));
  TROUPE_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, k, m, k));
  TROUPE_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p.c, p.out_type, n, m, n));

  p.algo = algorithms(p, 1, m, n, k).front();
  return plans_.emplace(key, p).first->second;
}

std::vector<cublasLtMatmulAlgo_t> Gemm::algorithms(const Plan& p, int count, int64_t m, int64_t n, int64_t k,
                                                   int algo_id) {
  cublasLtMatmulPreference_t pref = nullptr;
  TROUPE_CUDA_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  TROUPE_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                         &workspace_bytes_, sizeof workspace_bytes_));
  std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(count));
  if (algo_id >= 0) {
    const uint32_t mode = CUBLASLT_SEARCH_LIMITED_BY_ALGO_ID;
    TROUPE_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_SEARCH_MODE, &mode, sizeof mode));
    for (auto& r : results)
      if (cublasLtMatmulAlgoInit(handle_, CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_16BF, CUDA_R_16BF, p.out_type,
                                 p.out_type, algo_id, &r.algo) != CUBLAS_STATUS_SUCCESS) {
        cublasLtMatmulPreferenceDestroy(pref);
        return {};
      }
  }
  int found = 0;
  const cublasStatus_t status =
      cublasLtMatmulAlgoGetHeuristic(handle_, p.desc, p.a, p.b, p.c, p.c, pref, count, results.data(), &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (algo_id >= 0) found = status == CUBLAS_STATUS_SUCCESS ? found : 0;  // an id with nothing for this shape
  else TROUPE_CUDA_CHECK(status);
  if (found == 0 && algo_id < 0)
    throw CudaError("cublasLtMatmulAlgoGetHeuristic found no algorithm for m=" + std::to_string(m) +
                    " n=" + std::to_string(n) + " k=" + std::to_string(k));
  std::vector<cublasLtMatmulAlgo_t> out;
  for (int i = 0; i < found; ++i)
    if (results[static_cast<size_t>(i)].state == CUBLAS_STATUS_SUCCESS) out.push_back(results[static_cast<size_t>(i)].algo);
  return out;
}

namespace {

template <class T>
T algo_config(const cublasLtMatmulAlgo_t& a, cublasLtMatmulAlgoConfigAttributes_t attr) {
  T v{};
  size_t written = 0;
  if (cublasLtMatmulAlgoConfigGetAttribute(&a, attr, &v, sizeof v, &written) != CUBLAS_STATUS_SUCCESS) return T{};
  return v;
}

// An algorithm's list-valued capability (tile or stage ids); empty when it has none.
std::vector<uint32_t> algo_caps(const cublasLtMatmulAlgo_t& a, cublasLtMatmulAlgoCapAttributes_t attr) {
  size_t bytes = 0;
  if (cublasLtMatmulAlgoCapGetAttribute(&a, attr, nullptr, 0, &bytes) != CUBLAS_STATUS_SUCCESS || bytes == 0) return {};
  std::vector<uint32_t> ids(bytes / sizeof(uint32_t));
  if (cublasLtMatmulAlgoCapGetAttribute(&a, attr, ids.data(), bytes, &bytes) != CUBLAS_STATUS_SUCCESS) return {};
  return ids;
}

}  // namespace

std::vector<cublasLtMatmulAlgo_t> Gemm::candidates(const Plan& p, const Search& search, int64_t m, int64_t n,
                                                   int64_t k) {
  std::vector<cublasLtMatmulAlgo_t> out = algorithms(p, search.heuristic, m, n, k);
  const size_t first = std::min<size_t>(out.size(), 8);
  if (search.per_algo_id > 0) {
    std::vector<int> ids(256);
    int num_ids = 0;
    TROUPE_CUDA_CHECK(cublasLtMatmulAlgoGetIds(handle_, CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_16BF, CUDA_R_16BF,
                                               p.out_type, p.out_type, static_cast<int>(ids.size()), ids.data(), &num_ids));
    for (int i = 0; i < num_ids; ++i)
      for (const cublasLtMatmulAlgo_t& a : algorithms(p, search.per_algo_id, m, n, k, ids[static_cast<size_t>(i)]))
        out.push_back(a);
  }
  if (search.split_k) {
    for (size_t i = 0; i < first; ++i) {
      int32_t supported = 0;
      size_t written = 0;
      if (cublasLtMatmulAlgoCapGetAttribute(&out[i], CUBLASLT_ALGO_CAP_SPLITK_SUPPORT, &supported, sizeof supported,
                                            &written) != CUBLAS_STATUS_SUCCESS || !supported)
        continue;
      uint32_t schemes = 0;
      cublasLtMatmulAlgoCapGetAttribute(&out[i], CUBLASLT_ALGO_CAP_REDUCTION_SCHEME_MASK, &schemes, sizeof schemes,
                                        &written);
      for (uint32_t splits : {2u, 3u, 4u, 6u})
        for (uint32_t scheme : {CUBLASLT_REDUCTION_SCHEME_INPLACE, CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE,
                                CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE}) {
          if (!(schemes & scheme)) continue;
          cublasLtMatmulAlgo_t a = out[i];
          if (cublasLtMatmulAlgoConfigSetAttribute(&a, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splits, sizeof splits) !=
                  CUBLAS_STATUS_SUCCESS ||
              cublasLtMatmulAlgoConfigSetAttribute(&a, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &scheme, sizeof scheme) !=
                  CUBLAS_STATUS_SUCCESS)
            continue;
          cublasLtMatmulHeuristicResult_t check{};
          if (cublasLtMatmulAlgoCheck(handle_, p.desc, p.a, p.b, p.c, p.c, &a, &check) == CUBLAS_STATUS_SUCCESS &&
              check.workspaceSize <= workspace_bytes_)
            out.push_back(a);
        }
    }
  }
  if (search.tiles) {
    // Each of the first eight's tile sizes at its own stage count and cluster shape (the stage
    // count never won in decoder_bench's table, and timing every one took minutes at start).
    for (size_t i = 0; i < first; ++i)
      for (uint32_t tile : algo_caps(out[i], CUBLASLT_ALGO_CAP_TILE_IDS)) {
        cublasLtMatmulAlgo_t a = out[i];
        if (cublasLtMatmulAlgoConfigSetAttribute(&a, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof tile) !=
            CUBLAS_STATUS_SUCCESS)
          continue;
        // Not checked here: cublasLtMatmul refuses a configuration it cannot run, and timing
        // skips it then.
        const auto same = [&](const cublasLtMatmulAlgo_t& b) { return std::memcmp(&a, &b, sizeof a) == 0; };
        if (!std::any_of(out.begin(), out.end(), same)) out.push_back(a);
      }
  }
  return out;
}

Gemm::Tuning Gemm::tune(__nv_bfloat16* y, const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias,
                        int64_t m, int64_t n, int64_t k, const Search& search, cudaStream_t stream) {
  if (m == 0 || (skinny_ && m == 1 && k % 8 == 0)) return {};
  Plan& p = plan(m, n, k, false, bias != nullptr);
  if (bias)
    TROUPE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
  const std::vector<cublasLtMatmulAlgo_t> algos = candidates(p, search, m, n, k);
  const float alpha = 1.0f, beta = 0.0f;
  // Each candidate's fastest of `runs` runs after a warm-up, in µs (0: it cannot run here after
  // all). Everything is queued first with an event between runs, and read after one
  // synchronization: a wide search is then GEMM time, not a host round trip per run.
  std::vector<cudaEvent_t> events;
  const auto time_all = [&](const std::vector<size_t>& which, int runs) {
    const size_t need = which.size() * static_cast<size_t>(runs + 1);
    while (events.size() < need) {
      cudaEvent_t e = nullptr;
      TROUPE_CUDA_CHECK(cudaEventCreate(&e));
      events.push_back(e);
    }
    const auto matmul = [&](size_t i) {
      return cublasLtMatmul(handle_, p.desc, &alpha, w, p.a, x, p.b, &beta, y, p.c, y, p.c, &algos[i], workspace_,
                            workspace_bytes_, stream) == CUBLAS_STATUS_SUCCESS;
    };
    std::vector<bool> ran(which.size(), false);
    for (size_t j = 0; j < which.size(); ++j) {
      if (!matmul(which[j])) continue;  // the warm-up; an algorithm offered that cannot run here
      cudaEvent_t* e = &events[j * static_cast<size_t>(runs + 1)];
      TROUPE_CUDA_CHECK(cudaEventRecord(e[0], stream));
      bool ok = true;
      for (int r = 0; r < runs && ok; ++r) {
        ok = matmul(which[j]);
        TROUPE_CUDA_CHECK(cudaEventRecord(e[r + 1], stream));
      }
      ran[j] = ok;
    }
    TROUPE_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<float> us(which.size(), 0.0f);
    for (size_t j = 0; j < which.size(); ++j) {
      if (!ran[j]) continue;
      const cudaEvent_t* e = &events[j * static_cast<size_t>(runs + 1)];
      for (int r = 0; r < runs; ++r) {
        float ms = 0;
        TROUPE_CUDA_CHECK(cudaEventElapsedTime(&ms, e[r], e[r + 1]));
        if (us[j] == 0 || ms * 1e3f < us[j]) us[j] = ms * 1e3f;
      }
    }
    return us;
  };
  // Screened with one run each, then the heuristic's first and the four fastest again with five:
  // a wide search stays seconds, and the pick is not one lucky run.
  std::vector<size_t> all(algos.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  const std::vector<float> screen = time_all(all, 1);
  std::vector<std::pair<float, size_t>> screened;
  for (size_t i = 0; i < algos.size(); ++i)
    if (screen[i] > 0) screened.push_back({screen[i], i});
  std::sort(screened.begin(), screened.end());
  std::vector<size_t> finalists{0};
  for (size_t j = 0; j < screened.size() && finalists.size() < 5; ++j)
    if (screened[j].second != 0) finalists.push_back(screened[j].second);
  const std::vector<float> final_us = time_all(finalists, 5);
  Tuning t;
  t.tried = static_cast<int>(screened.size());
  for (size_t j = 0; j < finalists.size(); ++j) {
    if (final_us[j] == 0) continue;
    if (finalists[j] == 0) t.heuristic_us = final_us[j];
    if (t.best_us == 0 || final_us[j] < t.best_us) {
      t.best_us = final_us[j];
      t.best = static_cast<int>(finalists[j]);
      p.algo = algos[finalists[j]];
    }
  }
  for (cudaEvent_t e : events) cudaEventDestroy(e);
  p.tuned = true;
  t.algo_id = algo_config<int32_t>(p.algo, CUBLASLT_ALGO_CONFIG_ID);
  t.tile = static_cast<int>(algo_config<uint32_t>(p.algo, CUBLASLT_ALGO_CONFIG_TILE_ID));
  t.stages = static_cast<int>(algo_config<uint32_t>(p.algo, CUBLASLT_ALGO_CONFIG_STAGES_ID));
  t.split_k = static_cast<int>(algo_config<uint32_t>(p.algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM));
  return t;
}

bool Gemm::tuned(int64_t m, int64_t n, int64_t k, bool bias) const {
  const auto it = plans_.find(Key{m, n, k, false, bias});
  return it != plans_.end() && it->second.tuned;
}

std::string Gemm::export_tuned() const {
  std::ostringstream out;
  for (const auto& [key, p] : plans_) {
    if (!p.tuned) continue;
    const auto& [m, n, k, f32, bias] = key;
    out << m << ' ' << n << ' ' << k << ' ' << f32 << ' ' << bias << ' ';
    const auto* bytes = reinterpret_cast<const unsigned char*>(&p.algo);
    for (size_t i = 0; i < sizeof p.algo; ++i) out << "0123456789abcdef"[bytes[i] >> 4] << "0123456789abcdef"[bytes[i] & 15];
    out << '\n';
  }
  return out.str();
}

int Gemm::import_tuned(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  int kept = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    int64_t m = 0, n = 0, k = 0;
    int f32 = 0, bias = 0;
    std::string hex;
    if (!(fields >> m >> n >> k >> f32 >> bias >> hex) || m <= 0 || n <= 0 || k <= 0 ||
        hex.size() != 2 * sizeof(cublasLtMatmulAlgo_t))
      continue;
    cublasLtMatmulAlgo_t algo{};
    auto* bytes = reinterpret_cast<unsigned char*>(&algo);
    bool ok = true;
    for (size_t i = 0; i < sizeof algo && ok; ++i) {
      const auto nibble = [&](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
      const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
      ok = hi >= 0 && lo >= 0;
      bytes[i] = static_cast<unsigned char>(hi * 16 + lo);
    }
    if (!ok) continue;
    Plan& p = plan(m, n, k, f32 != 0, bias != 0);
    cublasLtMatmulHeuristicResult_t check{};
    if (cublasLtMatmulAlgoCheck(handle_, p.desc, p.a, p.b, p.c, p.c, &algo, &check) != CUBLAS_STATUS_SUCCESS ||
        check.workspaceSize > workspace_bytes_)
      continue;
    p.algo = algo;
    p.tuned = true;
    ++kept;
  }
  return kept;
}

std::string Gemm::tuning_key() {
  int device = 0;
  TROUPE_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  TROUPE_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return "cublasLt " + std::to_string(cublasLtGetVersion()) + " " + prop.name + " sm" + std::to_string(prop.major) +
         std::to_string(prop.minor) + " " + std::to_string(prop.multiProcessorCount);
}

void Gemm::run(void* y, const void* x, const void* w, const void* bias, int64_t m, int64_t n, int64_t k,
               bool f32_out, cudaStream_t stream) {
  if (m == 0) return;
  if (skinny_ && m == 1 && k % 8 == 0) {
    auto* yb = f32_out ? nullptr : static_cast<__nv_bfloat16*>(y);
    auto* yf = f32_out ? static_cast<float*>(y) : nullptr;
    TROUPE_CUDA_CHECK(skinny_gemm(yb, yf, static_cast<const __nv_bfloat16*>(x), static_cast<const __nv_bfloat16*>(w),
                                  static_cast<const __nv_bfloat16*>(bias), m, n, k, stream));
    return;
  }
  const Plan& p = plan(m, n, k, f32_out, bias != nullptr);
  if (bias)
    TROUPE_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
  const float alpha = 1.0f, beta = 0.0f;
  TROUPE_CUDA_CHECK(cublasLtMatmul(handle_, p.desc, &alpha, w, p.a, x, p.b, &beta, y, p.c, y, p.c, &p.algo,
                                   workspace_, workspace_bytes_, stream));
}

void Gemm::linear(__nv_bfloat16* y, const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias,
                  int64_t m, int64_t n, int64_t k, cudaStream_t stream) {
  run(y, x, w, bias, m, n, k, false, stream);
}

void Gemm::linear_f32(float* y, const __nv_bfloat16* x, const __nv_bfloat16* w, int64_t m, int64_t n, int64_t k,
                      cudaStream_t stream) {
  run(y, x, w, nullptr, m, n, k, true, stream);
}

}  // namespace troupe::cuda
