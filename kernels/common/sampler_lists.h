#pragma once
// What the GPU sampler reads besides the logits: one SamplerRow per row, whose per-row lists
// (penalty ids; logit_bias entries and banned ids) are packed the llm.c way, one flat array for
// every row plus offsets, so a step uploads them in one copy of ints (and one of floats when any
// row has a bias) however long each row's lists are. Plain C++: the engine's GPU backend fills
// the rows on the host, and tests check the packing without a device.
//
// The buffers are sized per step, not by a fixed bound: the sampler is not captured in the decode
// CUDA graphs (it is launched after the graph's replay), so its inputs may move between steps.
// The one bound is the int32 offsets': at most INT32_MAX entries of each kind in a step.
#include <climits>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <utility>

#include "kernels/common/row_sampling_params.h"

namespace troupe::cuda {

struct SamplerRow {
  RowSamplingParams params;
  std::span<const int32_t> prompt;  // read only when a penalty is on
  std::span<const int32_t> output;
  // On the raw logits, before penalties (engine's apply_logit_adjustments): each bias is added,
  // then each banned id becomes -inf. Bias ids are unique (SamplingParams::validate): the device
  // adds a row's entries in parallel.
  std::span<const std::pair<int32_t, float>> logit_bias;
  std::span<const int32_t> banned;  // the stop ids while fewer than min_tokens outputs exist
};

inline bool penalized(const RowSamplingParams& p) {
  return p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
}

// Where each part lies in the packed int32 buffer of R rows, P penalty ids and A adjustment
// entries (the adjustment part last, so a step with none copies what it copied before they came):
//   penalty row_begin    [R + 1]  row r's ids: [row_begin[r], row_begin[r + 1])
//   penalty output_begin [R]      its prompt ids before output_begin[r], its output ids after
//   penalty ids          [P]      only penalized rows have any
//   adjust row_begin     [R + 1]  row r's entries: [row_begin[r], row_begin[r + 1])
//   adjust ban_begin     [R]      its biased ids before ban_begin[r], its banned ids after
//   adjust ids           [A]
// The float buffer holds the biases [A], index for index with the adjust ids (a banned entry's
// slot is 0 and unread). Offsets are relative to each part's ids.
struct SamplerListsLayout {
  int64_t rows = 0;
  int64_t penalty_ids = 0;     // P
  int64_t adjust_entries = 0;  // A

  int64_t penalty_row_begin() const { return 0; }
  int64_t penalty_output_begin() const { return rows + 1; }
  int64_t penalty_ids_at() const { return 2 * rows + 1; }
  int64_t adjust_row_begin() const { return 2 * rows + 1 + penalty_ids; }
  int64_t adjust_ban_begin() const { return 3 * rows + 2 + penalty_ids; }
  int64_t adjust_ids_at() const { return 4 * rows + 2 + penalty_ids; }
  int64_t ints() const { return adjust_entries > 0 ? adjust_ids_at() + adjust_entries : adjust_row_begin(); }
  int64_t floats() const { return adjust_entries; }
};

// Counts the entries; throws std::length_error past the int32 offsets' bound.
inline SamplerListsLayout sampler_lists_layout(std::span<const SamplerRow> rows) {
  SamplerListsLayout l;
  l.rows = static_cast<int64_t>(rows.size());
  for (const SamplerRow& r : rows) {
    if (penalized(r.params)) l.penalty_ids += static_cast<int64_t>(r.prompt.size() + r.output.size());
    l.adjust_entries += static_cast<int64_t>(r.logit_bias.size() + r.banned.size());
  }
  if (l.penalty_ids > INT32_MAX || l.adjust_entries > INT32_MAX)
    throw std::length_error("a sampling step's penalty ids or logit_bias / banned ids exceed 2^31 entries");
  return l;
}

// Writes rows' lists into ints [l.ints()] and floats [l.floats()] (unread when l.floats() is 0).
inline void pack_sampler_lists(std::span<const SamplerRow> rows, const SamplerListsLayout& l, int32_t* ints,
                               float* floats) {
  int32_t* row_begin = ints + l.penalty_row_begin();
  int32_t* output_begin = ints + l.penalty_output_begin();
  int32_t* ids = ints + l.penalty_ids_at();
  int32_t at = 0;
  const auto append = [&](std::span<const int32_t> s) {
    std::memcpy(ids + at, s.data(), s.size() * sizeof(int32_t));
    at += static_cast<int32_t>(s.size());
  };
  for (int64_t i = 0; i < l.rows; ++i) {
    const SamplerRow& r = rows[i];
    const bool listed = penalized(r.params);  // greedy serving without penalties copies no ids
    row_begin[i] = at;
    if (listed) append(r.prompt);
    output_begin[i] = at;
    if (listed) append(r.output);
  }
  row_begin[l.rows] = at;
  if (l.adjust_entries == 0) return;
  row_begin = ints + l.adjust_row_begin();
  int32_t* ban_begin = ints + l.adjust_ban_begin();
  ids = ints + l.adjust_ids_at();
  at = 0;
  for (int64_t i = 0; i < l.rows; ++i) {
    const SamplerRow& r = rows[i];
    row_begin[i] = at;
    for (const auto& [id, bias] : r.logit_bias) {
      ids[at] = id;
      floats[at++] = bias;
    }
    ban_begin[i] = at;
    for (int32_t id : r.banned) {
      ids[at] = id;
      floats[at++] = 0.0f;
    }
  }
  row_begin[l.rows] = at;
}

}  // namespace troupe::cuda
