#include "engine/scheduler/scheduler_config.h"

namespace troupe {

std::string SchedulerConfig::validate() const {
  if (max_num_seqs < 1) return "max_num_seqs must be >= 1";
  if (max_num_batched_tokens < max_num_seqs)
    return "max_num_batched_tokens must be >= max_num_seqs (every decode must fit in a step)";
  if (block_size < 1) return "block_size must be >= 1";
  if (num_blocks < 1) return "num_blocks must be >= 1";
  if (long_prefill_token_threshold < 0) return "long_prefill_token_threshold must be >= 0";
  if (pipeline_stages < 1) return "pipeline_stages must be >= 1";
  return {};
}

}  // namespace troupe
