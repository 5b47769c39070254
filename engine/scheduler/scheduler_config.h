#pragma once
// SchedulerConfig: the knobs of continuous batching. Chunked prefill is always on.
#include <cstdint>
#include <string>

namespace troupe {

struct SchedulerConfig {
  int32_t max_num_seqs = 256;               // running sequences at most (a step's batch size cap)
  int32_t max_num_batched_tokens = 2048;    // tokens per step at most; >= max_num_seqs so that
                                            // every running decode always fits in one step
  int32_t block_size = 16;                  // tokens per KV block
  int32_t num_blocks = 0;                   // KV blocks in the pool
  bool enable_prefix_caching = true;
  int32_t long_prefill_token_threshold = 0; // > 0: at most this many tokens of one prefill per
                                            // step, so one long prompt cannot take the whole budget
  bool async_scheduling = true;             // schedule() may plan step N+1 before update() got step N
                                            // (two plans outstanding); off: lock step (see scheduler.h)
  int32_t pipeline_stages = 1;              // executor stages each plan passes through in turn
                                            // (pipeline parallel); > 1 with async_scheduling: as many
                                            // plans outstanding, over disjoint batches (scheduler.h)
  int32_t replica = 0;                      // which data-parallel replica this scheduler is: its
                                            // journals and metrics carry it; scheduling ignores it

  // Empty when valid, else a message naming the bad field.
  std::string validate() const;
};

}  // namespace troupe
