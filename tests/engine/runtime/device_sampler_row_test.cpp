// The GPU sampler's inputs on the host (no device needed): a SamplingRow becomes a device row with
// the CPU sampler's min_tokens rule at its output index, and a step's rows pack into one int32
// buffer (penalty part, then adjustment part) and one float buffer of biases.
#include <gtest/gtest.h>

#include <vector>

#include "engine/runtime/device_sampler_row.h"
#include "kernels/common/sampler_lists.h"

namespace troupe {
namespace {

std::vector<int32_t> ids(std::span<const int32_t> s) { return {s.begin(), s.end()}; }
std::vector<int32_t> ints(const std::vector<int32_t>& buffer, int64_t at, int64_t n) {
  return {buffer.begin() + at, buffer.begin() + at + n};
}

TEST(DeviceSamplerRow, CarriesTheSettingsTheBiasesAndTheStopIdsBelowMinTokens) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_k = 5;
  p.logit_bias = {{3, 100.0f}, {8, -100.0f}};
  p.stop_token_ids = {2, 9};
  p.min_tokens = 2;
  const std::vector<int32_t> prompt{1, 2}, output{4};
  const cuda::SamplerRow r = device_sampler_row({&p, 77, 1, prompt, output});
  EXPECT_EQ(r.params.temperature, 0.7f);
  EXPECT_EQ(r.params.top_k, 5);
  EXPECT_EQ(r.params.seed, 77u);
  EXPECT_EQ(r.params.output_index, 1u);
  EXPECT_EQ(r.logit_bias.data(), p.logit_bias.data());
  EXPECT_EQ(r.logit_bias.size(), 2u);
  EXPECT_EQ(ids(r.banned), (std::vector<int32_t>{2, 9})) << "one output of two: stop ids held off";
  EXPECT_TRUE(device_sampler_row({&p, 77, 2, prompt, output}).banned.empty())
      << "output_index 2 reaches min_tokens even while the output still lacks a token in flight";
  p.min_tokens = 0;
  EXPECT_TRUE(device_sampler_row({&p, 77, 0, prompt, {}}).banned.empty());
}

TEST(SamplerLists, PackPenaltyIdsThenBiasesThenBannedIdsRowAfterRow) {
  const std::vector<int32_t> prompt0{1, 2}, output0{3}, prompt1{4}, banned1{7, 8};
  const std::vector<std::pair<int32_t, float>> bias0{{5, 1.5f}, {9, -100.0f}};
  cuda::RowSamplingParams penalized{1.0f, 1.0f, 0.0f, 1.3f, 0.0f, 0.0f, 0, 1, 0};
  cuda::RowSamplingParams plain = penalized;
  plain.repetition_penalty = 1.0f;
  const std::vector<cuda::SamplerRow> rows{{penalized, prompt0, output0, bias0, {}},
                                           {plain, prompt1, {}, {}, banned1},  // its prompt is not copied
                                           {plain, {}, {}, {}, {}}};
  const cuda::SamplerListsLayout l = cuda::sampler_lists_layout(rows);
  EXPECT_EQ(l.penalty_ids, 3);
  EXPECT_EQ(l.adjust_entries, 4);
  EXPECT_EQ(l.ints(), 4 * 3 + 2 + 3 + 4);
  std::vector<int32_t> buffer(l.ints(), -1);
  std::vector<float> biases(l.floats(), -1.0f);
  cuda::pack_sampler_lists(rows, l, buffer.data(), biases.data());
  EXPECT_EQ(ints(buffer, l.penalty_row_begin(), 4), (std::vector<int32_t>{0, 3, 3, 3}));
  EXPECT_EQ(ints(buffer, l.penalty_output_begin(), 3), (std::vector<int32_t>{2, 3, 3}));
  EXPECT_EQ(ints(buffer, l.penalty_ids_at(), 3), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(ints(buffer, l.adjust_row_begin(), 4), (std::vector<int32_t>{0, 2, 4, 4}));
  EXPECT_EQ(ints(buffer, l.adjust_ban_begin(), 3), (std::vector<int32_t>{2, 2, 4}));
  EXPECT_EQ(ints(buffer, l.adjust_ids_at(), 4), (std::vector<int32_t>{5, 9, 7, 8}));
  EXPECT_EQ(biases, (std::vector<float>{1.5f, -100.0f, 0.0f, 0.0f}));
}

TEST(SamplerLists, AStepWithoutAdjustmentsCopiesOnlyThePenaltyPart) {
  const std::vector<int32_t> prompt{1, 2};
  cuda::RowSamplingParams greedy{0.0f, 1.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0, 0, 0};
  const std::vector<cuda::SamplerRow> rows(2, cuda::SamplerRow{greedy, prompt, {}, {}, {}});
  const cuda::SamplerListsLayout l = cuda::sampler_lists_layout(rows);
  EXPECT_EQ(l.ints(), 2 * 2 + 1) << "two offset arrays, no ids: what the sampler copied before adjustments";
  EXPECT_EQ(l.floats(), 0);
  std::vector<int32_t> buffer(l.ints(), -1);
  cuda::pack_sampler_lists(rows, l, buffer.data(), nullptr);
  EXPECT_EQ(buffer, (std::vector<int32_t>{0, 0, 0, 0, 0}));
}

}  // namespace
}  // namespace troupe
