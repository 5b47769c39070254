#include "kernels/cuda/device_sampler.h"

#include <algorithm>
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
  // Room for n, doubling past the old size so a growing workload reallocates rarely.
  void reserve(int64_t n) {
    if (n > size) resize(std::max(n, 2 * size));
  }
  void to_device(int64_t n, cudaStream_t s) const {
    if (n == 0) return;
    TROUPE_CUDA_CHECK(cudaMemcpyAsync(dev, host, n * sizeof(T), cudaMemcpyHostToDevice, s));
  }
  void to_host(int64_t n, cudaStream_t s) const {
    TROUPE_CUDA_CHECK(cudaMemcpyAsync(host, dev, n * sizeof(T), cudaMemcpyDeviceToHost, s));
  }
};

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
  Mirror<int32_t> ints;   // the packed lists, SamplerListsLayout::ints(), grown on demand
  Mirror<float> biases;   // [SamplerListsLayout::floats()], grown on demand
  // The pinned inputs above are rewritten by the next launch only once this launch's copies of
  // them have run (with a step in flight ahead of it, they may not have yet).
  cudaEvent_t inputs_copied = nullptr;
  bool inputs_pending = false;
  Outputs outputs[2];
  int next = 0;                // the slot the next launch writes
  std::deque<int> launched;    // slots not collected yet, oldest first
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  int64_t workspace_ids = -1;     // penalty ids the workspace was sized for
  int64_t workspace_adjust = -1;  // logit adjustment entries it was sized for
  SamplerOutput out;

  ~Buffers() {
    cudaFree(workspace);
    cudaEventDestroy(inputs_copied);
  }
  void reserve_workspace(int64_t ids, int64_t adjust) {
    if (ids <= workspace_ids && adjust <= workspace_adjust) return;
    const int64_t want_ids = std::max(ids, 2 * std::max<int64_t>(workspace_ids, 0));
    const int64_t want_adjust = std::max(adjust, 2 * std::max<int64_t>(workspace_adjust, 0));
    const size_t bytes = sampling_workspace_bytes(max_rows, want_ids, want_adjust);
    cudaFree(workspace);
    workspace = nullptr;
    if (bytes) TROUPE_CUDA_CHECK(cudaMalloc(&workspace, bytes));
    workspace_bytes = bytes;
    workspace_ids = want_ids;
    workspace_adjust = want_adjust;
  }
};

DeviceSampler::DeviceSampler(int64_t vocab, int64_t max_rows) : b_(std::make_unique<Buffers>()) {
  b_->vocab = vocab;
  b_->max_rows = max_rows;
  b_->params.resize(max_rows);
  for (Outputs& o : b_->outputs) o.make(max_rows);
  TROUPE_CUDA_CHECK(cudaEventCreateWithFlags(&b_->inputs_copied, cudaEventDisableTiming));
  b_->ints.reserve(2 * max_rows + 1 + 4096);
  b_->reserve_workspace(0, 0);
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
  const SamplerListsLayout l = sampler_lists_layout(rows);  // throws before anything is queued
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
  b.ints.reserve(l.ints());
  b.biases.reserve(l.floats());
  b.reserve_workspace(l.penalty_ids, l.adjust_entries);
  for (int64_t i = 0; i < R; ++i) b.params.host[i] = rows[i].params;
  pack_sampler_lists(rows, l, b.ints.host, b.biases.host);
  b.params.to_device(R, stream);
  b.ints.to_device(l.ints(), stream);
  b.biases.to_device(l.floats(), stream);
  TROUPE_CUDA_CHECK(cudaEventRecord(b.inputs_copied, stream));
  b.inputs_pending = true;
  const int32_t* ints = b.ints.dev;
  const PenaltyTokens penalties{ints + l.penalty_ids_at(), ints + l.penalty_row_begin(),
                                ints + l.penalty_output_begin(), l.penalty_ids};
  LogitAdjustments adjustments;
  if (l.adjust_entries > 0)
    adjustments = {ints + l.adjust_ids_at(), b.biases.dev, ints + l.adjust_row_begin(), ints + l.adjust_ban_begin(),
                   l.adjust_entries};
  const bool lp = num_top >= 0, top = num_top > 0;
  TROUPE_CUDA_CHECK(sample_tokens(o.tokens.dev, logits, b.params.dev, penalties, adjustments,
                                  lp ? o.logprob.dev : nullptr,
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
