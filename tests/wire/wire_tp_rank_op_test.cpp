// troupe::wire and a tensor-parallel rank's TpRankOp: a real step (two sequences, a prefill chunk
// and a decode, hidden states of a later stage) comes back field for field through the schema and
// through CAF's serializer; slices outside the batch, lists of different lengths, an unknown kind
// and truncated bytes are refused.
#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "wire/caf_wire_inspect.h"
#include "wire/troupe.capnp.h"
#include "wire/wire_codec.h"

namespace troupe {
namespace {

TpRankOp a_step() {
  TpRankOp op;
  op.kind = TpRankOp::Kind::ForwardHidden;
  const std::vector<int32_t> prompt{5, 9, 11, 2}, next{40};
  op.batch.add_sequence(prompt.data(), 3, 3, {7}, 4, false);       // a chunk: no logits
  op.batch.sequences[0].prompt_targets = {9, 11, 2};               // each token scored (prompt logprobs)
  op.batch.sequences[0].prompt_top_n = 5;
  op.batch.add_sequence(next.data(), 1, 9, {2, 0, 5}, 4, true);    // a decode
  op.batch.hidden_states = {1.5f, -0.0f, 1e-42f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f};  // 4 tokens x 2
  return op;
}

void expect_same(const TpRankOp& a, const TpRankOp& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.num_blocks, b.num_blocks);
  EXPECT_EQ(a.block_size, b.block_size);
  EXPECT_EQ(a.batch.token_ids, b.batch.token_ids);
  EXPECT_EQ(a.batch.positions, b.batch.positions);
  EXPECT_EQ(a.batch.slot_mapping, b.batch.slot_mapping);
  ASSERT_EQ(a.batch.hidden_states.size(), b.batch.hidden_states.size());
  EXPECT_EQ(std::memcmp(a.batch.hidden_states.data(), b.batch.hidden_states.data(), a.batch.hidden_states.size() * 4), 0);
  ASSERT_EQ(a.batch.sequences.size(), b.batch.sequences.size());
  for (size_t i = 0; i < a.batch.sequences.size(); ++i) {
    EXPECT_EQ(a.batch.sequences[i].token_begin, b.batch.sequences[i].token_begin);
    EXPECT_EQ(a.batch.sequences[i].num_tokens, b.batch.sequences[i].num_tokens);
    EXPECT_EQ(a.batch.sequences[i].context_len, b.batch.sequences[i].context_len);
    EXPECT_EQ(a.batch.sequences[i].block_table, b.batch.sequences[i].block_table);
    EXPECT_EQ(a.batch.sequences[i].wants_logits, b.batch.sequences[i].wants_logits);
    EXPECT_EQ(a.batch.sequences[i].prompt_targets, b.batch.sequences[i].prompt_targets);
    EXPECT_EQ(a.batch.sequences[i].prompt_top_n, b.batch.sequences[i].prompt_top_n);
  }
}

TEST(WireTpRankOp, AStepAndAnAllocationRoundTrip) {
  const TpRankOp op = a_step();
  ASSERT_EQ(op.batch.num_tokens(), 4);
  expect_same(wire::decode<TpRankOp>(wire::encode(op)), op);
  TpRankOp alloc;
  alloc.kind = TpRankOp::Kind::AllocateKv;
  alloc.num_blocks = 300;
  alloc.block_size = 16;
  expect_same(wire::decode<TpRankOp>(wire::encode(alloc)), alloc);
}

TEST(WireTpRankOp, ThroughCafsSerializerItIsTheSchemaMessage) {
  TpRankOp op = a_step();
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::vector<char> buf;
  caf::binary_serializer out{sys, buf};
  ASSERT_FALSE(out(op));
  const std::vector<uint8_t> message = wire::encode(op);
  EXPECT_EQ(std::vector<uint8_t>(buf.end() - static_cast<std::ptrdiff_t>(message.size()), buf.end()), message);
  TpRankOp back;
  caf::binary_deserializer in{sys, buf};
  ASSERT_FALSE(in(back));
  expect_same(back, op);
  EXPECT_NE(caf::deep_to_string(op).find("forwardHidden"), std::string::npos);
}

std::vector<uint8_t> bytes_of(capnp::MallocMessageBuilder& message) {
  const auto words = capnp::messageToFlatArray(message);
  const auto bytes = words.asBytes();
  return {bytes.begin(), bytes.end()};
}

TEST(WireTpRankOp, MalformedBatchesAreRefused) {
  {  // a slice past the tokens
    TpRankOp op = a_step();
    op.batch.sequences[1].num_tokens = 5;
    EXPECT_THROW(wire::decode<TpRankOp>(wire::encode(op)), std::invalid_argument);
  }
  {  // one position short
    TpRankOp op = a_step();
    op.batch.positions.pop_back();
    EXPECT_THROW(wire::decode<TpRankOp>(wire::encode(op)), std::invalid_argument);
  }
  {  // more scored prompt tokens than the slice has
    TpRankOp op = a_step();
    op.batch.sequences[0].prompt_targets.push_back(4);
    EXPECT_THROW(wire::decode<TpRankOp>(wire::encode(op)), std::invalid_argument);
  }
  {  // hidden states not whole rows
    TpRankOp op = a_step();
    op.batch.hidden_states.pop_back();
    EXPECT_THROW(wire::decode<TpRankOp>(wire::encode(op)), std::invalid_argument);
  }
  {  // a kind from a newer schema
    capnp::MallocMessageBuilder message;
    message.initRoot<wire::schema::TpRankOp>().setKind(static_cast<wire::schema::TpRankOp::Kind>(9));
    EXPECT_THROW(wire::decode<TpRankOp>(bytes_of(message)), std::invalid_argument);
  }
  std::vector<uint8_t> cut = wire::encode(a_step());
  cut.resize(cut.size() - 8);
  EXPECT_THROW(wire::decode<TpRankOp>(cut), std::invalid_argument);
}

}  // namespace
}  // namespace troupe
