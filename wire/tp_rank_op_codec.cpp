// troupe::wire for a tensor-parallel rank's TpRankOp (schema: TpRankOp, ForwardBatch,
// SequenceSlice in troupe.capnp). Decoding checks the structure a rank's forward pass indexes by:
// the per-token lists of one length, every sequence's slice inside them, hidden states a whole
// number of rows. The values themselves (token ids, blocks) the model checks, as for rank 0.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "wire/troupe.capnp.h"
#include "wire/wire_codec.h"
#include "wire/wire_framing.h"

namespace troupe::wire {
namespace {

namespace s = schema;
using framing::list_of;

void fill(s::TpRankOp::Builder b, const TpRankOp& x) {
  // Kind's enumerants are declared in the same order as TpRankOp::Kind.
  b.setKind(static_cast<s::TpRankOp::Kind>(x.kind));
  b.setNumBlocks(x.num_blocks);
  b.setBlockSize(x.block_size);
  const ForwardBatch& f = x.batch;
  auto batch = b.initBatch();
  TROUPE_WIRE_SET_LIST(batch, TokenIds, f.token_ids);
  TROUPE_WIRE_SET_LIST(batch, Positions, f.positions);
  TROUPE_WIRE_SET_LIST(batch, SlotMapping, f.slot_mapping);
  TROUPE_WIRE_SET_LIST(batch, HiddenStates, f.hidden_states);
  auto seqs = batch.initSequences(static_cast<unsigned>(f.sequences.size()));
  for (size_t i = 0; i < f.sequences.size(); ++i) {
    const SequenceSlice& q = f.sequences[i];
    auto o = seqs[static_cast<unsigned>(i)];
    o.setTokenBegin(q.token_begin);
    o.setNumTokens(q.num_tokens);
    o.setContextLen(q.context_len);
    TROUPE_WIRE_SET_LIST(o, BlockTable, q.block_table);
    o.setWantsLogits(q.wants_logits);
    TROUPE_WIRE_SET_LIST(o, PromptTargets, q.prompt_targets);
    o.setPromptTopN(q.prompt_top_n);
  }
}

TpRankOp get(s::TpRankOp::Reader r) {
  TpRankOp x;
  const auto kind = static_cast<uint16_t>(r.getKind());
  if (kind > static_cast<uint16_t>(TpRankOp::Kind::ForwardHidden))
    throw std::invalid_argument("kind: unknown enumerant " + std::to_string(kind));
  x.kind = static_cast<TpRankOp::Kind>(kind);
  x.num_blocks = r.getNumBlocks();
  x.block_size = r.getBlockSize();
  const auto b = r.getBatch();
  ForwardBatch& f = x.batch;
  f.token_ids = list_of<int32_t>(b.getTokenIds());
  f.positions = list_of<int32_t>(b.getPositions());
  f.slot_mapping = list_of<int32_t>(b.getSlotMapping());
  f.hidden_states = list_of<float>(b.getHiddenStates());
  const int64_t T = f.num_tokens();
  if (static_cast<int64_t>(f.positions.size()) != T || static_cast<int64_t>(f.slot_mapping.size()) != T)
    throw std::invalid_argument("batch: " + std::to_string(T) + " tokens but " + std::to_string(f.positions.size()) +
                                " positions and " + std::to_string(f.slot_mapping.size()) + " slots");
  if (!f.hidden_states.empty() && (T == 0 || f.hidden_states.size() % static_cast<size_t>(T) != 0))
    throw std::invalid_argument("batch.hiddenStates: " + std::to_string(f.hidden_states.size()) +
                                " values are not whole rows of " + std::to_string(T) + " tokens");
  for (auto q : b.getSequences()) {
    SequenceSlice& o = f.sequences.emplace_back();
    o.token_begin = q.getTokenBegin();
    o.num_tokens = q.getNumTokens();
    o.context_len = q.getContextLen();
    o.block_table = list_of<int32_t>(q.getBlockTable());
    o.wants_logits = q.getWantsLogits();
    o.prompt_targets = list_of<int32_t>(q.getPromptTargets());
    o.prompt_top_n = q.getPromptTopN();
    if (o.token_begin < 0 || o.num_tokens < 0 || int64_t{o.token_begin} + o.num_tokens > T || o.context_len < o.num_tokens ||
        static_cast<int64_t>(o.prompt_targets.size()) > o.num_tokens)
      throw std::invalid_argument("batch.sequences[" + std::to_string(f.sequences.size() - 1) + "]: tokens [" +
                                  std::to_string(o.token_begin) + ", +" + std::to_string(o.num_tokens) +
                                  ") with context " + std::to_string(o.context_len) + " do not fit " +
                                  std::to_string(T) + " tokens");
  }
  return x;
}

}  // namespace

std::vector<uint8_t> encode(const TpRankOp& x) {
  return framing::encode_message<s::TpRankOp>("TpRankOp", [&](s::TpRankOp::Builder b) { fill(b, x); });
}

template <>
TpRankOp decode<TpRankOp>(std::span<const uint8_t> bytes) {
  return framing::decode_message<s::TpRankOp>(bytes, "TpRankOp", [](s::TpRankOp::Reader r) { return get(r); });
}

std::string to_text(const TpRankOp& x) {
  // The shape, not the values: hidden states would drown a log line.
  TpRankOp shape = x;
  shape.batch.hidden_states.clear();
  return framing::text_message<s::TpRankOp>("TpRankOp", [&](s::TpRankOp::Builder b) { fill(b, shape); });
}

}  // namespace troupe::wire
