#pragma once
// rendezvous: the key/value board a cluster's tensor-parallel groups meet on before they connect
// (comm/rendezvous_store.h), held by the head, reached over the actor messages the cluster already
// speaks: no extra port, file or service. Each rank writes its Gloo address and reads the
// others'. ActorRendezvousStore is the RendezvousStore a rank's connect runs against: blocking
// requests from its own thread (the rank actor's, which is detached), each bounded.
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include "comm/rendezvous_store.h"

namespace troupe {

struct RendezvousState {
  std::map<std::string, std::string> pairs;  // values are bytes (CAF carries a string as-is)
  static inline const char* name = "rendezvous";
};

// (rendezvous_set_atom, key, bytes) -> true (a key set twice keeps the later value);
// (rendezvous_get_atom, key) -> (true, bytes), or (false, empty) while it is not set.
caf::behavior rendezvous_actor(caf::stateful_actor<RendezvousState>* self);

class ActorRendezvousStore : public RendezvousStore {
 public:
  // get() waits up to `timeout` for a key; every request to the board is bounded by it too.
  ActorRendezvousStore(caf::actor_system& sys, caf::actor board, std::chrono::milliseconds timeout)
      : sys_(sys), board_(std::move(board)), timeout_(timeout) {}

  void set(const std::string& key, const std::vector<char>& value) override;
  std::vector<char> get(const std::string& key) override;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;

 private:
  // The value if set; std::runtime_error when the board does not answer in time.
  bool lookup(const std::string& key, std::vector<char>& value);

  caf::actor_system& sys_;
  caf::actor board_;
  std::chrono::milliseconds timeout_;
};

}  // namespace troupe
