#pragma once
// RendezvousStore: the key/value board a group's ranks meet on before they connect (each writes
// its address, reads everyone else's). Ours rather than Gloo's own class, so that a store over
// the project's actor messages (the head holds the pairs: actors/rendezvous_actor.h) lives in actors/
// without Gloo's headers; comm/gloo adapts any RendezvousStore to Gloo, and offers Gloo's own
// in-memory and file stores behind this interface.
#include <chrono>
#include <string>
#include <vector>

namespace troupe {

class RendezvousStore {
 public:
  virtual ~RendezvousStore() = default;

  virtual void set(const std::string& key, const std::vector<char>& value) = 0;
  // The value of `key`, waiting for it to be set; std::runtime_error after the store's timeout.
  virtual std::vector<char> get(const std::string& key) = 0;
  // Returns once every key is set; std::runtime_error naming the missing keys after `timeout`.
  virtual void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) = 0;
};

}  // namespace troupe
