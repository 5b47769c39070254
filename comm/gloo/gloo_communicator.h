#pragma once
// A Communicator over Gloo (the CPU collective library PyTorch uses) on its TCP transport: the
// CPU executors' collectives across processes and machines. Gloo's headers stay inside the .cpp,
// so code that connects a group includes this and links troupe_comm_gloo, nothing of Gloo's.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "comm/communicator.h"
#include "comm/rendezvous_store.h"

namespace troupe {

struct GlooOptions {
  // The address this rank listens on and publishes to its peers (an interface's address; the
  // loopback address for ranks of one machine).
  std::string hostname = "127.0.0.1";
  // How long connecting and each collective may wait for the slowest rank before throwing.
  std::chrono::milliseconds timeout{30000};
  // Prepended to every key this group writes, so several groups (the TP group of each pipeline
  // stage, a restarted group) can share one store.
  std::string key_prefix = "troupe";
};

// Joins rank `rank` of a group of `size`: publishes its address in `store`, reads every other
// rank's and connects to all of them (a full mesh). Blocks until every rank has joined; throws
// std::runtime_error (naming Gloo's reason) after options.timeout. `store` is needed only during
// the call.
std::unique_ptr<Communicator> connect_gloo(RendezvousStore& store, int32_t rank, int32_t size,
                                           const GlooOptions& options = {});

}  // namespace troupe
