// troupe::wire and the kv_manager's PoolJournal: a real pool's journal (shares, evictions, a
// cache clear, a fresh-pool header) comes back equal through the Cap'n Proto schema and through
// CAF's serializer, and the decoded journal replays to the owner's exact state; an op kind from a
// newer peer and truncated bytes are refused, not guessed.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "engine/kv/block_pool.h"
#include "wire/caf_wire_inspect.h"
#include "wire/pool_journal.capnp.h"
#include "wire/wire_codec.h"
#include "tests/engine/token_run.h"

namespace troupe {
namespace {

using testing::tokens;

// Two journals of a 6-block pool: prompts that share, evict and are cleared.
struct Owner {
  BlockPool pool{BlockPoolConfig{6, 4, true}};
  std::vector<PoolJournal> journals;
  Owner() {
    pool.start_journal();
    for (SeqId s = 1; s <= 4; ++s) {
      const auto t = tokens(static_cast<int32_t>(s % 2) * 100, 9);
      const PrefixMatch m = pool.match_prefix(t);
      EXPECT_TRUE(pool.allocate(s, 9, m));
      pool.cache_full_blocks(s, t, 9);
      if (s % 2 == 0) {
        pool.free(s - 1);
        pool.free(s);
      }
    }
    journals.push_back(pool.take_journal());
    const auto t = tokens(500, 13);
    EXPECT_TRUE(pool.allocate(9, 13));
    pool.cache_full_blocks(9, t, 13);
    pool.clear_cache();
    journals.push_back(pool.take_journal());
    journals.back().step_id = 31;
  }
};

TEST(WirePoolJournal, ARealJournalRoundTripsAndReplaysToTheOwnersState) {
  Owner o;
  EXPECT_GT(o.pool.stats().num_hit_tokens, 0);
  EXPECT_GT(o.pool.stats().num_evictions, 0);
  BlockPool mirror(BlockPoolConfig{1, 1, false});
  for (const PoolJournal& j : o.journals) {
    const PoolJournal back = wire::decode<PoolJournal>(wire::encode(j));
    EXPECT_EQ(back, j);
    EXPECT_TRUE(mirror.replay(back).empty());
  }
  EXPECT_EQ(mirror.diff(o.pool), "");
}

TEST(WirePoolJournal, ThroughCafsSerializerItIsTheSchemaMessage) {
  Owner o;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  for (PoolJournal& j : o.journals) {
    std::vector<char> buf;
    caf::binary_serializer out{sys, buf};
    ASSERT_FALSE(out(j));
    const std::vector<uint8_t> message = wire::encode(j);
    ASSERT_GE(buf.size(), message.size());
    // CAF's length prefix, then exactly the schema message.
    EXPECT_EQ(std::vector<uint8_t>(buf.end() - static_cast<std::ptrdiff_t>(message.size()), buf.end()), message);
    PoolJournal back;
    caf::binary_deserializer in{sys, buf};
    ASSERT_FALSE(in(back));
    EXPECT_EQ(back, j);
  }
}

TEST(WirePoolJournal, AnEmptyJournalStaysSmall) {
  PoolJournal j;
  j.number = 12345;
  j.step_id = 12346;
  EXPECT_EQ(wire::decode<PoolJournal>(wire::encode(j)), j);
  EXPECT_LE(wire::encode(j).size(), 64u);  // what an idle step costs on the wire
}

TEST(WirePoolJournal, AnOpKindFromANewerPeerIsRefused) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<wire::schema::PoolJournal>();
  root.setNumber(1);
  root.initOps(1)[0].setKind(static_cast<wire::schema::PoolOpKind>(8));
  const auto words = capnp::messageToFlatArray(message);
  const auto bytes = words.asBytes();
  try {
    wire::decode<PoolJournal>(std::vector<uint8_t>(bytes.begin(), bytes.end()));
    FAIL() << "decoded an unknown op kind";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown PoolOpKind enumerant 8"), std::string::npos) << e.what();
  }
}

TEST(WirePoolJournal, TruncatedBytesAreRefused) {
  Owner o;
  std::vector<uint8_t> bytes = wire::encode(o.journals[0]);
  bytes.resize(bytes.size() - 8);
  EXPECT_THROW(wire::decode<PoolJournal>(bytes), std::invalid_argument);
}

TEST(WirePoolJournal, TheTextFormNamesTheOps) {
  Owner o;
  const std::string text = wire::to_text(o.journals[1]);
  EXPECT_NE(text.find("stepId = 31"), std::string::npos) << text;
  EXPECT_NE(text.find("kind = clearCache"), std::string::npos) << text;
}

}  // namespace
}  // namespace troupe
