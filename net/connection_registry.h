#pragma once
// ConnectionRegistry: who holds the server's connections, and whom a new one may displace. It is
// the policy half of HttpServer's connection limits, with no sockets and no locks (the server
// holds one mutex around it), so the rules are unit-tested by feeding it events.
//
// The rules, and why:
// - A client address may hold at most `max_per_client` connections: beyond it the new one is
//   refused. One client (or one attacker) can then take only its share of the global cap.
// - At the global cap `max_connections`, the connection that has been idle the longest (waiting
//   for a request, or still sending one) is closed to make room, and the new one is accepted.
//   Only when every connection is busy answering a request is the new one refused. So a crowd of
//   idle or slowloris connections cannot shut out anyone; they lose their slots first.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace troupe::net {

struct ConnectionLimits {
  size_t max_connections = 1024;
  size_t max_per_client = 512;  // 0: no per-address limit
};

class ConnectionRegistry {
 public:
  using Id = uint64_t;
  using Clock = std::chrono::steady_clock;

  struct Admission {
    bool accepted = false;
    Id id = 0;                  // the new connection's, when accepted
    std::optional<Id> evicted;  // to close now: the longest-idle connection, when at the cap
    std::string reason;         // why it was refused, for the log
  };

  explicit ConnectionRegistry(ConnectionLimits limits) : limits_(limits) {}

  // A new connection from `address` (the client's IP as text). It starts idle: it has not sent a
  // request yet. An evicted connection is already forgotten here; its owner closes it.
  Admission admit(const std::string& address, Clock::time_point now);
  // Busy from a request's arrival until its response is written; idle again after.
  void set_busy(Id id, bool busy, Clock::time_point now);
  void remove(Id id);  // closed; unknown ids (already evicted) are ignored

  size_t size() const { return entries_.size(); }
  size_t busy() const { return busy_; }
  size_t from(const std::string& address) const;
  std::vector<Id> idle_ids() const;
  std::vector<Id> all_ids() const;

 private:
  struct Entry {
    std::string address;
    bool busy = false;
    Clock::time_point idle_since;
  };
  std::optional<Id> longest_idle() const;
  void forget(std::unordered_map<Id, Entry>::iterator it);

  ConnectionLimits limits_;
  std::unordered_map<Id, Entry> entries_;
  std::unordered_map<std::string, size_t> per_address_;
  size_t busy_ = 0;
  Id next_id_ = 1;
};

}  // namespace troupe::net
