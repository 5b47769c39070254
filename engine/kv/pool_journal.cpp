#include "engine/kv/pool_journal.h"

namespace troupe {

const char* to_string(PoolOpKind kind) {
  switch (kind) {
    case PoolOpKind::Open: return "Open";
    case PoolOpKind::Take: return "Take";
    case PoolOpKind::Share: return "Share";
    case PoolOpKind::Cache: return "Cache";
    case PoolOpKind::Evict: return "Evict";
    case PoolOpKind::Release: return "Release";
    case PoolOpKind::Close: return "Close";
    case PoolOpKind::ClearCache: return "ClearCache";
  }
  return "unknown op";
}

std::string describe(const PoolOp& op) {
  std::string s = to_string(op.kind);
  switch (op.kind) {
    case PoolOpKind::Open:
    case PoolOpKind::Close: return s + " seq " + std::to_string(op.seq);
    case PoolOpKind::Take:
    case PoolOpKind::Share:
    case PoolOpKind::Release: return s + " block " + std::to_string(op.block) + " of seq " + std::to_string(op.seq);
    case PoolOpKind::Cache:
    case PoolOpKind::Evict: return s + " block " + std::to_string(op.block);
    case PoolOpKind::ClearCache: return s;
  }
  return s + " (kind " + std::to_string(static_cast<int>(op.kind)) + ")";
}

}  // namespace troupe
