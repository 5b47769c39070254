#include "net/connection_registry.h"

namespace troupe::net {

ConnectionRegistry::Admission ConnectionRegistry::admit(const std::string& address, Clock::time_point now) {
  Admission out;
  if (limits_.max_per_client > 0 && from(address) >= limits_.max_per_client) {
    out.reason = "client " + address + " holds " + std::to_string(limits_.max_per_client) +
                 " connections (--max-connections-per-client)";
    return out;
  }
  if (entries_.size() >= limits_.max_connections) {
    out.evicted = longest_idle();
    if (!out.evicted) {
      out.reason = "all " + std::to_string(entries_.size()) + " connections are answering requests (--max-connections)";
      return out;
    }
    forget(entries_.find(*out.evicted));
  }
  out.accepted = true;
  out.id = next_id_++;
  entries_.emplace(out.id, Entry{address, false, now});
  ++per_address_[address];
  return out;
}

void ConnectionRegistry::set_busy(Id id, bool busy, Clock::time_point now) {
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.busy == busy) return;
  it->second.busy = busy;
  if (busy) {
    ++busy_;
  } else {
    --busy_;
    it->second.idle_since = now;
  }
}

void ConnectionRegistry::remove(Id id) {
  auto it = entries_.find(id);
  if (it != entries_.end()) forget(it);
}

size_t ConnectionRegistry::from(const std::string& address) const {
  auto it = per_address_.find(address);
  return it == per_address_.end() ? 0 : it->second;
}

std::vector<ConnectionRegistry::Id> ConnectionRegistry::idle_ids() const {
  std::vector<Id> out;
  for (const auto& [id, e] : entries_)
    if (!e.busy) out.push_back(id);
  return out;
}

std::vector<ConnectionRegistry::Id> ConnectionRegistry::all_ids() const {
  std::vector<Id> out;
  for (const auto& [id, e] : entries_) out.push_back(id);
  return out;
}

std::optional<ConnectionRegistry::Id> ConnectionRegistry::longest_idle() const {
  // A linear scan: it runs only at the cap, over at most max_connections entries (~1 µs each
  // thousand), which is cheaper than keeping an ordered index current on every request.
  std::optional<Id> best;
  Clock::time_point since{};
  for (const auto& [id, e] : entries_)
    if (!e.busy && (!best || e.idle_since < since || (e.idle_since == since && id < *best))) {
      best = id;
      since = e.idle_since;
    }
  return best;
}

void ConnectionRegistry::forget(std::unordered_map<Id, Entry>::iterator it) {
  if (it->second.busy) --busy_;
  auto a = per_address_.find(it->second.address);
  if (--a->second == 0) per_address_.erase(a);
  entries_.erase(it);
}

}  // namespace troupe::net
