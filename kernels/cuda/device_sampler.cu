#include "kernels/cuda/device_sampler.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <stdexcept>

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/sampling.h"

namespace troupe::cuda {
namespace {

// A pinned host array and its device twin: what the sampler stages in and copies back.
template <typename T>
struct Mirror {
  T* host = nullptr;
  T* dev = nullptr;
  int64_t size = 0;

  Mirror() = default;
  Mirror(const Mirror&) = delete;
  Mirror& operator=(const Mirror&) = delete;
  ~Mirror() { release(); }
  void release() {
    cudaFreeHost(host);
    cudaFree(dev);
    host = dev = nullptr;
    size = 0;
  }
  void resize(int64_t n) {
    release();
    TROUPE_CUDA_CHECK(cudaMallocHost(&host, n * sizeof(T)));
    TROUPE_CUDA_CHECK(cudaMalloc(&dev, n * sizeof(T)));
    size = n;
  }
  void to_device(int64_t n, cudaStream_t s) const {
    TROUPE_CUDA_CHECK(cudaMemcpyAsync(dev, host, n * sizeof(T), cudaMemcpyHostToDevice, s));
  }
  void to_host(int64_t n, cudaStream_t s) const {
    TROUPE_CUDA_CHECK(cudaMemcpyAsync(host, dev, n * sizeof(T), cudaMemcpyDeviceToHost, s));
  }
};

bool penalized(const RowSamplingParams& p) {
  return p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
}

}  // namespace

// What one launch writes and copies back. Two of them alternate, so a step's results are still
// intact while the next step (launched before they were collected) produces its own.
struct Outputs {
  Mirror<int32_t> tokens;
  Mirror<float> logprob;    // [max_rows]
  Mirror<int32_t> top_ids;  // [max_rows, kMaxTopLogprobs]
  Mirror<float> top_lp;
  cudaEvent_t copied = nullptr;  // recorded after the copies back
  int64_t rows = 0;
  int32_t num_top = -1;

  ~Outputs() { cudaEventDestroy(copied); }
  void make(int64_t max_rows) {
    tokens.resize(max_rows);
    logprob.resize(max_rows);
    top_ids.resize(max_rows * kMaxTopLogprobs);
    top_lp.resize(max_rows * kMaxTopLogprobs);
    TROUPE_CUDA_CHECK(cudaEventCreateWithFlags(&copied, cudaEventDisableTiming));
  }
};

struct DeviceSampler::Buffers {
  int64_t vocab = 0, max_rows = 0;
  Mirror<RowSamplingParams> params;
  Mirror<int32_t> ints;  // row_begin [R + 1] | output_begin [R] | penalty ids [...], grown on demand
  // The pinned inputs above are rewritten by the next launch only once this launch's copies of
  // them have run (with a step in flight ahead of it, they may not have yet).
  cudaEvent_t inputs_copied = nullptr;
  bool inputs_pending = false;
  Outputs outputs[2];
  int next = 0;                // the slot the next launch writes
  std::deque<int> launched;    // slots not collected yet, oldest first
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  int64_t workspace_ids = -1;  // penalty ids the workspace was sized for
  SamplerOutput out;

  ~Buffers() {
    cudaFree(workspace);
    cudaEventDestroy(inputs_copied);
  }
  void reserve_ints(int64_t n) {
    if (n > ints.size) ints.resize(std::max(n, 2 * ints.size));
  }
  void reserve_workspace(int64_t ids) {
    if (ids <= workspace_ids) return;
    const int64_t want = std::max(ids, 2 * std::max<int64_t>(workspace_ids, 0));
    const size_t bytes = sampling_workspace_bytes(max_rows, want);
    cudaFree(workspace);
    workspace = nullptr;
    if (bytes) TROUPE_CUDA_CHECK(cudaMalloc(&workspace, bytes));
    workspace_bytes = bytes;
    workspace_ids = want;
  }
};

DeviceSampler::DeviceSampler(int64_t vocab, int64_t max_rows) : b_(std::make_unique<Buffers>()) {
  b_->vocab = vocab;
  b_->max_rows = max_rows;
  b_->params.resize(max_rows);
  for (Outputs& o : b_->outputs) o.make(max_rows);
  TROUPE_CUDA_CHECK(cudaEventCreateWithFlags(&b_->inputs_copied, cudaEventDisableTiming));
  b_->reserve_ints(2 * max_rows + 1 + 4096);
  b_->reserve_workspace(0);
}

DeviceSampler::~DeviceSampler() = default;

const SamplerOutput& DeviceSampler::sample(float* logits, std::span<const SamplerRow> rows, int32_t num_top,
                                           void* stream) {
  launch(logits, rows, num_top, stream);
  return collect();
}

void DeviceSampler::launch(float* logits, std::span<const SamplerRow> rows, int32_t num_top, void* stream_ptr) {
  Buffers& b = *b_;
  const auto R = static_cast<int64_t>(rows.size());
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  if (b.launched.size() >= 2) throw std::logic_error("DeviceSampler: two launches are outstanding already");
  if (num_top > kMaxTopLogprobs) throw std::invalid_argument("at most 20 top logprobs");
  if (R > b.max_rows) throw std::invalid_argument("more sampling rows than the sampler was made for");
  Outputs& o = b.outputs[b.next];
  o.rows = R;
  o.num_top = num_top;
  b.launched.push_back(b.next);
  b.next ^= 1;
  if (R == 0) {
    TROUPE_CUDA_CHECK(cudaEventRecord(o.copied, stream));
    return;
  }
  if (b.inputs_pending) TROUPE_CUDA_CHECK(cudaEventSynchronize(b.inputs_copied));
  // Penalty lists only for rows that use them: greedy serving without penalties copies none.
  int64_t num_ids = 0;
  for (const SamplerRow& r : rows)
    if (penalized(r.params)) num_ids += static_cast<int64_t>(r.prompt.size() + r.output.size());
  b.reserve_ints(2 * R + 1 + num_ids);
  b.reserve_workspace(num_ids);
  int32_t* row_begin = b.ints.host;
  int32_t* output_begin = row_begin + R + 1;
  int32_t* ids = output_begin + R;
  int64_t at = 0;
  for (int64_t i = 0; i < R; ++i) {
    const SamplerRow& r = rows[i];
    b.params.host[i] = r.params;
    row_begin[i] = static_cast<int32_t>(at);
    if (penalized(r.params)) {
      std::memcpy(ids + at, r.prompt.data(), r.prompt.size() * sizeof(int32_t));
      at += static_cast<int64_t>(r.prompt.size());
      output_begin[i] = static_cast<int32_t>(at);
      std::memcpy(ids + at, r.output.data(), r.output.size() * sizeof(int32_t));
      at += static_cast<int64_t>(r.output.size());
    } else {
      output_begin[i] = static_cast<int32_t>(at);
    }
  }
  row_begin[R] = static_cast<int32_t>(at);
  b.params.to_device(R, stream);
  b.ints.to_device(2 * R + 1 + at, stream);
  TROUPE_CUDA_CHECK(cudaEventRecord(b.inputs_copied, stream));
  b.inputs_pending = true;
  const PenaltyTokens penalties{b.ints.dev + 2 * R + 1, b.ints.dev, b.ints.dev + R + 1, at};
  const bool lp = num_top >= 0, top = num_top > 0;
  TROUPE_CUDA_CHECK(sample_tokens(o.tokens.dev, logits, b.params.dev, penalties, lp ? o.logprob.dev : nullptr,
                                  top ? o.top_ids.dev : nullptr, top ? o.top_lp.dev : nullptr, top ? num_top : 0,
                                  b.workspace, b.workspace_bytes, R, b.vocab, stream));
  o.tokens.to_host(R, stream);
  if (lp) o.logprob.to_host(R, stream);
  if (top) {
    o.top_ids.to_host(R * num_top, stream);
    o.top_lp.to_host(R * num_top, stream);
  }
  TROUPE_CUDA_CHECK(cudaEventRecord(o.copied, stream));
}

bool DeviceSampler::ready() const {
  if (b_->launched.empty()) return true;
  const cudaError_t e = cudaEventQuery(b_->outputs[b_->launched.front()].copied);
  if (e == cudaErrorNotReady) return false;
  TROUPE_CUDA_CHECK(e);  // a failed step: collect() would throw the same
  return true;
}

const SamplerOutput& DeviceSampler::collect() {
  Buffers& b = *b_;
  if (b.launched.empty()) throw std::logic_error("DeviceSampler::collect without a launch");
  const Outputs& o = b.outputs[b.launched.front()];
  b.launched.pop_front();
  TROUPE_CUDA_CHECK(cudaEventSynchronize(o.copied));
  SamplerOutput& out = b.out;
  const int64_t R = o.rows;
  const bool lp = o.num_top >= 0, top = o.num_top > 0;
  out.num_top = o.num_top;
  out.tokens.assign(o.tokens.host, o.tokens.host + R);
  out.logprob.clear();
  out.top_ids.clear();
  out.top_logprobs.clear();
  if (R > 0 && lp) out.logprob.assign(o.logprob.host, o.logprob.host + R);
  if (R > 0 && top) {
    out.top_ids.assign(o.top_ids.host, o.top_ids.host + R * o.num_top);
    out.top_logprobs.assign(o.top_lp.host, o.top_lp.host + R * o.num_top);
  }
  return out;
}

const int32_t* DeviceSampler::device_tokens() const { return b_->outputs[b_->next ^ 1].tokens.dev; }

}  // namespace troupe::cuda
