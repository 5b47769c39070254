// troupe::wire for the kv_manager's PoolJournal (schema: PoolJournal, PoolOp, PoolOpKind,
// PoolStart in pool_journal.capnp). Decoding checks structure only; BlockPool::replay checks meaning.
#include <stdexcept>
#include <string>

#include "wire/pool_journal.capnp.h"
#include "wire/wire_codec.h"
#include "wire/wire_framing.h"

namespace troupe::wire {
namespace {

namespace s = schema;

void fill(s::PoolJournal::Builder b, const PoolJournal& x) {
  b.setNumber(x.number);
  b.setStepId(x.step_id);
  if (x.fresh_pool) {
    auto start = b.getFreshPool().initStart();
    start.setNumBlocks(x.fresh_pool->num_blocks);
    start.setBlockSize(x.fresh_pool->block_size);
    start.setEnablePrefixCaching(x.fresh_pool->enable_prefix_caching);
  } else {
    b.getFreshPool().setNone();
  }
  if (!x.ops.empty()) {
    auto ops = b.initOps(static_cast<unsigned>(x.ops.size()));
    for (size_t i = 0; i < x.ops.size(); ++i) {
      const PoolOp& op = x.ops[i];
      auto o = ops[static_cast<unsigned>(i)];
      // PoolOpKind's enumerants are declared in the same order as troupe::PoolOpKind.
      o.setKind(static_cast<s::PoolOpKind>(op.kind));
      o.setBlock(op.block);
      o.setSeqId(op.seq);
      o.setKey(op.key);
      o.setParentKey(op.parent_key);
      o.setNumQueryTokens(op.num_query_tokens);
    }
  }
  TROUPE_WIRE_SET_LIST(b, CachedTokens, x.cached_tokens);
}

PoolJournal get(s::PoolJournal::Reader r) {
  PoolJournal x;
  x.number = r.getNumber();
  x.step_id = r.getStepId();
  const auto fresh = r.getFreshPool();
  switch (fresh.which()) {
    case s::PoolJournal::FreshPool::NONE: break;
    case s::PoolJournal::FreshPool::START: {
      const auto start = fresh.getStart();
      x.fresh_pool = PoolStart{start.getNumBlocks(), start.getBlockSize(), start.getEnablePrefixCaching()};
      break;
    }
    default:
      throw std::invalid_argument("freshPool: unknown union member " +
                                  std::to_string(static_cast<unsigned>(fresh.which())));
  }
  const auto ops = r.getOps();
  x.ops.reserve(ops.size());
  for (auto o : ops) {
    const auto kind = static_cast<uint16_t>(o.getKind());
    if (kind > static_cast<uint16_t>(PoolOpKind::ClearCache))
      throw std::invalid_argument("ops: unknown PoolOpKind enumerant " + std::to_string(kind));
    x.ops.push_back({static_cast<PoolOpKind>(kind), o.getBlock(), o.getSeqId(), o.getKey(), o.getParentKey(),
                     o.getNumQueryTokens()});
  }
  x.cached_tokens = framing::list_of<int32_t>(r.getCachedTokens());
  return x;
}

}  // namespace

std::vector<uint8_t> encode(const PoolJournal& x) {
  return framing::encode_message<s::PoolJournal>("PoolJournal", [&](s::PoolJournal::Builder b) { fill(b, x); });
}

template <>
PoolJournal decode<PoolJournal>(std::span<const uint8_t> bytes) {
  return framing::decode_message<s::PoolJournal>(bytes, "PoolJournal",
                                                 [](s::PoolJournal::Reader r) { return get(r); });
}

std::string to_text(const PoolJournal& x) {
  return framing::text_message<s::PoolJournal>("PoolJournal", [&](s::PoolJournal::Builder b) { fill(b, x); });
}

}  // namespace troupe::wire
