#pragma once
// The signals that end a long-running command (`serve`, `node`), blocked before any thread
// starts so that every thread inherits the mask and only the command's sigwait receives them.
#include <csignal>
#include <initializer_list>

namespace troupe::cli {

// Blocks SIGINT, SIGTERM and `extra` in the calling thread; returns the set for sigwait.
inline sigset_t block_shutdown_signals(std::initializer_list<int> extra = {}) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  for (int s : extra) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace troupe::cli
