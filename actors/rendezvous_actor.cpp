#include "actors/rendezvous_actor.h"

#include <stdexcept>
#include <thread>

#include <caf/all.hpp>

#include "actors/message_inspect.h"

namespace troupe {
namespace {

using Clock = std::chrono::steady_clock;
// How often a rank asks again for a key not set yet: ranks come up within milliseconds of each
// other once the head asks, so a short poll costs little and keeps the connect quick.
constexpr std::chrono::milliseconds kPoll{20};

}  // namespace

caf::behavior rendezvous_actor(caf::stateful_actor<RendezvousState>* self) {
  return {
      [=](rendezvous_set_atom, const std::string& key, std::string& bytes) {
        self->state.pairs[key] = std::move(bytes);
        return true;
      },
      [=](rendezvous_get_atom, const std::string& key) {
        auto it = self->state.pairs.find(key);
        if (it == self->state.pairs.end()) return caf::make_message(false, std::string{});
        return caf::make_message(true, it->second);
      },
  };
}

void ActorRendezvousStore::set(const std::string& key, const std::vector<char>& value) {
  caf::scoped_actor self{sys_};
  std::string failure;
  self->request(board_, timeout_, rendezvous_set_atom::value, key, std::string(value.begin(), value.end()))
      .receive([](bool) {}, [&](const caf::error& e) { failure = sys_.render(e); });
  if (!failure.empty()) throw std::runtime_error("rendezvous: setting " + key + " failed: " + failure);
}

bool ActorRendezvousStore::lookup(const std::string& key, std::vector<char>& value) {
  caf::scoped_actor self{sys_};
  bool found = false;
  std::string failure;
  self->request(board_, timeout_, rendezvous_get_atom::value, key)
      .receive(
          [&](bool set, const std::string& bytes) {
            found = set;
            value.assign(bytes.begin(), bytes.end());
          },
          [&](const caf::error& e) { failure = sys_.render(e); });
  if (!failure.empty()) throw std::runtime_error("rendezvous: reading " + key + " failed: " + failure);
  return found;
}

std::vector<char> ActorRendezvousStore::get(const std::string& key) {
  wait({key}, timeout_);
  std::vector<char> value;
  lookup(key, value);
  return value;
}

void ActorRendezvousStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  std::vector<char> ignored;
  for (const std::string& key : keys) {
    while (!lookup(key, ignored)) {
      if (Clock::now() >= deadline)
        throw std::runtime_error("rendezvous: key " + key + " was not set within " + std::to_string(timeout.count()) +
                                 " ms (a rank of the group did not come)");
      std::this_thread::sleep_for(kPoll);
    }
  }
}

}  // namespace troupe
