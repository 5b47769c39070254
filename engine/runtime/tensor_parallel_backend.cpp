#include "engine/runtime/tensor_parallel_backend.h"

#include <stdexcept>
#include <string>

#include "comm/in_process_communicator.h"

namespace troupe {

TensorParallelBackend::TensorParallelBackend(std::vector<std::unique_ptr<Communicator>> group,
                                             std::vector<std::shared_ptr<CpuBackend>> ranks)
    : group_(std::move(group)),
      ranks_(std::move(ranks)),
      start_(static_cast<std::ptrdiff_t>(ranks_.size())),
      done_(static_cast<std::ptrdiff_t>(ranks_.size())),
      errors_(ranks_.size()) {
  if (ranks_.empty() || group_.size() != ranks_.size())
    throw std::invalid_argument("a tensor-parallel backend needs one communicator per rank, got " +
                                std::to_string(group_.size()) + " for " + std::to_string(ranks_.size()) + " ranks");
  for (size_t r = 0; r < group_.size(); ++r)
    if (group_[r]->rank() != static_cast<int32_t>(r) || group_[r]->size() != size())
      throw std::invalid_argument("communicator " + std::to_string(r) + " is rank " + std::to_string(group_[r]->rank()) +
                                  " of " + std::to_string(group_[r]->size()));
  for (int32_t r = 1; r < size(); ++r) threads_.emplace_back([this, r] { rank_loop(r); });
}

TensorParallelBackend::~TensorParallelBackend() {
  stopping_ = true;
  start_.arrive_and_wait();
  for (std::thread& t : threads_) t.join();
}

void TensorParallelBackend::rank_loop(int32_t rank) {
  for (;;) {
    start_.arrive_and_wait();
    if (stopping_) return;
    try {
      job_(rank);
    } catch (...) {
      errors_[static_cast<size_t>(rank)] = std::current_exception();
    }
    done_.arrive_and_wait();
  }
}

void TensorParallelBackend::on_every_rank(const std::function<void(int32_t)>& job) {
  job_ = job;
  for (std::exception_ptr& e : errors_) e = nullptr;
  start_.arrive_and_wait();  // job_ and errors_ are written before the ranks pass it
  try {
    job_(0);
  } catch (...) {
    errors_[0] = std::current_exception();
  }
  done_.arrive_and_wait();
  for (const std::exception_ptr& e : errors_)
    if (e) std::rethrow_exception(e);
}

void TensorParallelBackend::mirror(const TpRankOp& op, const std::function<void(ModelBackend&)>& on_rank0) {
  on_every_rank([&](int32_t r) {
    if (r == 0) on_rank0(*ranks_[0]);
    else apply_tp_rank_op(*ranks_[static_cast<size_t>(r)], op);
  });
}

void TensorParallelBackend::allocate_kv_cache(int32_t num_blocks, int32_t block_size) {
  mirror(TpRankOp{TpRankOp::Kind::AllocateKv, num_blocks, block_size, {}},
         [&](ModelBackend& rank0) { rank0.allocate_kv_cache(num_blocks, block_size); });
}

SampledTokens TensorParallelBackend::run(const ForwardBatch& batch, std::span<const SamplingRow> rows) {
  SampledTokens out;
  mirror(TpRankOp{TpRankOp::Kind::Logits, 0, 0, batch}, [&](ModelBackend& rank0) { out = rank0.run(batch, rows); });
  return out;
}

std::vector<float> TensorParallelBackend::logits(const ForwardBatch& batch) {
  std::vector<float> out;
  mirror(TpRankOp{TpRankOp::Kind::Logits, 0, 0, batch}, [&](ModelBackend& rank0) { out = rank0.logits(batch); });
  return out;
}

std::vector<float> TensorParallelBackend::forward_hidden(const ForwardBatch& batch) {
  std::vector<float> out;
  mirror(TpRankOp{TpRankOp::Kind::ForwardHidden, 0, 0, batch},
         [&](ModelBackend& rank0) { out = rank0.forward_hidden(batch); });
  return out;
}

std::shared_ptr<TensorParallelBackend> make_cpu_tensor_parallel_backend(const ModelConfig& c, const Checkpoint* checkpoint,
                                                                        uint64_t seed, int32_t tp, int threads_per_rank,
                                                                        const LoadProgress& progress, VocabSplit vocab) {
  if (const std::string why = tensor_parallel_misfit(c, tp); !why.empty()) throw std::invalid_argument(why);
  std::vector<std::unique_ptr<Communicator>> group = make_in_process_group(tp);
  std::vector<std::shared_ptr<CpuBackend>> ranks;
  for (int32_t r = 0; r < tp; ++r) {
    const TpShard shard = tp_shard(c, tp, r, vocab);
    ModelWeights w = checkpoint != nullptr ? load_weights(c, *checkpoint, all_layers(c), shard, progress)
                                           : dummy_weights(c, seed, all_layers(c), shard);
    ranks.push_back(std::make_shared<CpuBackend>(std::make_shared<CpuModel>(c, std::move(w), group[static_cast<size_t>(r)].get()),
                                                 threads_per_rank));
  }
  return std::make_shared<TensorParallelBackend>(std::move(group), std::move(ranks));
}

}  // namespace troupe
