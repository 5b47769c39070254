#pragma once
// An actor system on CAF's deterministic test coordinator (caf/scheduler/test_coordinator.hpp, the
// scheduler behind CAF 0.17's caf/test/dsl.hpp): no worker threads; a message sent is only queued,
// and run() delivers every queued message, one at a time, on the test's thread. A test about
// message order sends, runs, and reads what the actors did — no sleeps, no timeouts, no races.
// (The DSL's own fixture needs CAF's unit-test engine; these tests run under GoogleTest, so they
// use the coordinator directly.) No middleman: actors of these tests never leave the process.
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/message_inspect.h"

namespace troupe::test {

struct DeterministicSystem {
  struct Config : caf::actor_system_config {
    Config() {
      add_message_types<caf::id_block::troupe>();
      set("scheduler.policy", caf::atom("testing"));
      set("logger.file-verbosity", caf::atom("quiet"));
      set("logger.console-verbosity", caf::atom("quiet"));
    }
  };

  Config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());

  // Actors a test left alive (one that failed half-way) must not keep the system's destructor
  // waiting for threads that do not exist.
  DeterministicSystem() { sys.await_actors_before_shutdown(false); }
  ~DeterministicSystem() { run(); }

  // Delivers every queued message (and those they cause) until none is left; how many.
  size_t run() { return sched.run(); }
};

}  // namespace troupe::test
