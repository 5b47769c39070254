// troupe::wire and a pipeline stage's HiddenStates: a real stage's output comes back bit for bit
// through the Cap'n Proto schema and through CAF's serializer (which carries exactly the schema
// message), an empty step's too; values that do not fill numTokens x hiddenSize, and truncated
// bytes, are refused.
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

#include "engine/model/cpu_model.h"
#include "engine/model/model_config.h"
#include "wire/caf_wire_inspect.h"
#include "wire/troupe.capnp.h"
#include "wire/wire_codec.h"

namespace troupe {
namespace {

bool bit_equal(const HiddenStates& a, const HiddenStates& b) {
  return a.step_id == b.step_id && a.next_layer == b.next_layer && a.num_tokens == b.num_tokens &&
         a.hidden_size == b.hidden_size && a.values.size() == b.values.size() &&
         std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) == 0;
}

// What stage 0 of two of the tiny Llama fixture's shape (dummy weights) hands stage 1 for a prompt.
HiddenStates real_stage_output() {
  ModelConfig c = load_model_config(std::filesystem::path(TROUPE_FIXTURES_DIR) / "models/tiny-llama3/config.json");
  CpuModel stage0(c, dummy_weights(c, 3, LayerRange{0, 2}));
  KvCacheStorage cache(c, LayerRange{0, 2}, 4, 16);
  ForwardBatch b;
  const std::vector<int32_t> prompt = {1, 17, 300, 42, 9};
  b.add_sequence(prompt.data(), 5, 5, {2}, 16, true);
  return {.step_id = 77, .next_layer = 2, .num_tokens = 5, .hidden_size = static_cast<int32_t>(c.hidden_size),
          .values = stage0.forward_hidden(b, cache)};
}

TEST(WireHiddenStates, AStagesOutputRoundTripsBitForBit) {
  const HiddenStates h = real_stage_output();
  ASSERT_EQ(h.values.size(), 5u * 96u);
  EXPECT_TRUE(bit_equal(wire::decode<HiddenStates>(wire::encode(h)), h));
  // Values that are not normal numbers travel unchanged too.
  HiddenStates odd = h;
  odd.values[0] = -0.0f;
  odd.values[1] = 1e-42f;  // subnormal
  odd.values[2] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(bit_equal(wire::decode<HiddenStates>(wire::encode(odd)), odd));
  const HiddenStates empty{.step_id = 5, .next_layer = 1, .num_tokens = 0, .hidden_size = 96, .values = {}};
  EXPECT_TRUE(bit_equal(wire::decode<HiddenStates>(wire::encode(empty)), empty));
}

TEST(WireHiddenStates, ThroughCafsSerializerItIsTheSchemaMessage) {
  HiddenStates h = real_stage_output();
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::vector<char> buf;
  caf::binary_serializer out{sys, buf};
  ASSERT_FALSE(out(h));
  const std::vector<uint8_t> message = wire::encode(h);
  ASSERT_GE(buf.size(), message.size());
  EXPECT_EQ(std::vector<uint8_t>(buf.end() - static_cast<std::ptrdiff_t>(message.size()), buf.end()), message);
  HiddenStates back;
  caf::binary_deserializer in{sys, buf};
  ASSERT_FALSE(in(back));
  EXPECT_TRUE(bit_equal(back, h));
  EXPECT_EQ(caf::deep_to_string(h).find("values"), std::string::npos) << "a log line carries the shape only";
}

TEST(WireHiddenStates, ValuesThatDoNotFillTheShapeAndTruncatedBytesAreRefused) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<wire::schema::HiddenStates>();
  root.setNumTokens(3);
  root.setHiddenSize(4);
  root.initValues(11);  // 12 expected
  const auto words = capnp::messageToFlatArray(message);
  const auto bytes = words.asBytes();
  EXPECT_THROW(wire::decode<HiddenStates>(std::vector<uint8_t>(bytes.begin(), bytes.end())), std::invalid_argument);
  std::vector<uint8_t> good = wire::encode(real_stage_output());
  good.resize(good.size() - 8);
  EXPECT_THROW(wire::decode<HiddenStates>(good), std::invalid_argument);
  HiddenStates negative{.step_id = 1, .next_layer = 1, .num_tokens = -2, .hidden_size = 4, .values = {}};
  EXPECT_THROW(wire::decode<HiddenStates>(wire::encode(negative)), std::invalid_argument);
}

}  // namespace
}  // namespace troupe
