// One step on pipeline stages without actors: a LocalEngine over the stages run in turn
// (SequentialPipelineBackend) gives every request, seeded ones included, exactly the tokens of the
// whole model (same batches, same bits); stage 0 refuses a plan with a token its last stage
// samples; a stage refuses hidden states of another step, layer or shape.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "../model/fixture_model.h"
#include "engine/model/layer_split.h"
#include "engine/runtime/cpu_backend.h"
#include "engine/runtime/local_engine.h"
#include "engine/runtime/pipeline_stage.h"
#include "engine/runtime/sequential_pipeline_backend.h"

namespace troupe {
namespace {

std::map<SeqId, std::vector<int32_t>> run(ModelBackend& backend, int64_t vocab) {
  LocalEngine engine(backend, {.max_num_seqs = 6, .max_num_batched_tokens = 40, .block_size = 16, .num_blocks = 80,
                               .enable_prefix_caching = true, .long_prefill_token_threshold = 0});
  std::mt19937 rng(3);
  for (SeqId id = 0; id < 30; ++id) {
    GenerationRequest r{.id = id, .prompt_token_ids = {}, .sampling_params = {}, .eos_token_ids = {}, .priority = 0,
                        .arrival = {}, .output_token_ids = {}};
    for (int t = std::uniform_int_distribution<int>(1, 60)(rng); t > 0; --t)
      r.prompt_token_ids.push_back(std::uniform_int_distribution<int>(0, static_cast<int>(vocab) - 1)(rng));
    r.sampling_params.max_tokens = std::uniform_int_distribution<int>(1, 20)(rng);
    r.sampling_params.temperature = id % 2 ? 0.9f : 0.0f;
    r.sampling_params.seed = 50 + id;
    engine.add_request(std::move(r));
  }
  std::map<SeqId, std::vector<int32_t>> out;
  for (const FinishedSequence& f : engine.run_to_completion()) out[f.id] = f.output_token_ids;
  return out;
}

TEST(SequentialPipeline, StagesInTurnGiveTheWholeModelsTokensSeededOnesIncluded) {
  for (const auto& [name, n] : std::vector<std::pair<std::string, int32_t>>{{"tiny-llama3", 3}, {"tiny-qwen2", 2}}) {
    CpuBackend whole(std::make_shared<CpuModel>(test::load_fixture_model(name)));
    SequentialPipelineBackend staged(test::fixture_stage_backends(name, n));
    const auto expected = run(whole, whole.config().vocab_size);
    ASSERT_EQ(expected.size(), 30u);
    EXPECT_EQ(run(staged, whole.config().vocab_size), expected) << name << " in " << n << " stages";
  }
}

TEST(SequentialPipeline, StagesMustTileTheModel) {
  auto s = test::fixture_stage_backends("tiny-llama3", 3);
  EXPECT_THROW(SequentialPipelineBackend({s[0], s[2]}), std::invalid_argument);  // a gap
  EXPECT_THROW(SequentialPipelineBackend({s[1], s[2]}), std::invalid_argument);  // no stage 0
  EXPECT_THROW(SequentialPipelineBackend({s[0], s[1]}), std::invalid_argument);  // no last stage
}

StepPlan one_prompt_plan(uint64_t step_id, std::vector<int32_t> tokens) {
  StepPlan p;
  p.step_id = step_id;
  ScheduledSequence s;
  s.seq_id = 1;
  s.is_new = true;
  s.prompt_token_ids = tokens;
  s.token_ids = tokens;
  s.new_block_ids = {0};
  s.wants_logits = true;
  p.num_batched_tokens = static_cast<int32_t>(tokens.size());
  p.sequences.push_back(std::move(s));
  return p;
}

TEST(PipelineStageStep, StageZeroRefusesAPlaceholderItCannotEmbed) {
  auto s = test::fixture_stage_backends("tiny-llama3", 2);
  s[0]->allocate_kv_cache(4, 16);
  SequenceBlockTables tables;
  StepPlan plan = one_prompt_plan(4, {5, 6, 7});
  const HiddenStates h = run_stage_step(*s[0], tables, plan, {});
  EXPECT_EQ(h.step_id, 4u);
  EXPECT_EQ(h.next_layer, 2);
  EXPECT_EQ(h.num_tokens, 3);
  EXPECT_EQ(h.values.size(), 3u * 96u);
  plan.sequences[0].is_new = false;
  plan.sequences[0].token_ids = {kTokenSampledByExecutor};
  plan.sequences[0].num_computed_tokens = 3;
  plan.sequences[0].new_block_ids = {};
  plan.num_batched_tokens = 1;
  EXPECT_THROW(run_stage_step(*s[0], tables, plan, {}), std::logic_error);
}

// A stage keeps each sequence's table from its is_new entry (the plans send only new blocks); a
// stage that never saw that entry (a fresh one) refuses to compute instead of guessing blocks.
TEST(PipelineStageStep, AStageKeepsTablesAndRefusesASequenceItWasNeverSent) {
  auto s = test::fixture_stage_backends("tiny-llama3", 2);
  s[0]->allocate_kv_cache(4, 16);
  SequenceBlockTables tables;
  StepPlan plan = one_prompt_plan(1, {5, 6, 7});
  run_stage_step(*s[0], tables, plan, {});
  plan.step_id = 2;
  plan.sequences[0].is_new = false;
  plan.sequences[0].num_computed_tokens = 3;
  plan.sequences[0].token_ids = {8};
  plan.sequences[0].new_block_ids = {};
  plan.num_batched_tokens = 1;
  EXPECT_EQ(run_stage_step(*s[0], tables, plan, {}).num_tokens, 1);
  EXPECT_EQ(tables.table(1), std::vector<int32_t>{0});
  SequenceBlockTables fresh;
  EXPECT_THROW(run_stage_step(*s[0], fresh, plan, {}), std::logic_error);
  // An empty plan still drops what it names.
  StepPlan drop;
  drop.step_id = 3;
  drop.finished_seq_ids = {1};
  run_stage_step(*s[0], tables, drop, {});
  EXPECT_FALSE(tables.holds(1));
}

TEST(PipelineStageStep, AStageRefusesHiddenStatesOfAnotherStepLayerOrShape) {
  auto s = test::fixture_stage_backends("tiny-llama3", 3);
  s[0]->allocate_kv_cache(4, 16);
  const StepPlan plan = one_prompt_plan(9, {5, 6, 7});
  SequenceBlockTables tables;
  const HiddenStates good = run_stage_step(*s[0], tables, plan, {});
  const ModelConfig& c = s[1]->config();
  EXPECT_EQ(take_stage_input(c, s[1]->layers(), plan, good).size(), good.values.size());
  HiddenStates other_step = good, other_layer = good, short_values = good;
  other_step.step_id = 8;
  other_layer.next_layer = 2;  // meant for the third stage
  short_values.values.pop_back();
  for (const HiddenStates& bad : {other_step, other_layer, short_values})
    EXPECT_THROW(take_stage_input(c, s[1]->layers(), plan, bad), std::invalid_argument);
}

}  // namespace
}  // namespace troupe
