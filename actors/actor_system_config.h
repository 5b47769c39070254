#pragma once
// The CAF configuration every Troupe process uses: our message types and the I/O module
// (middleman), so any actor can be published to or reached from another process.
#include <chrono>

#include <caf/actor_system_config.hpp>
#include <caf/timespan.hpp>
#include <caf/io/middleman.hpp>

#include "actors/message_inspect.h"

namespace troupe {

struct TroupeActorSystemConfig : caf::actor_system_config {
  TroupeActorSystemConfig() {
    add_message_types<caf::id_block::troupe>();
    load<caf::io::middleman>();
    // An idle CAF worker thread wakes every relaxed-sleep-duration (10 ms by default) to look for
    // work to steal: four of them kept an idle node at ~3 % of a core. A message for a sleeping
    // worker wakes it at once (a condition variable), so a longer sleep only delays stealing
    // from a busy worker, whose actors here run for milliseconds, never blocking steps (those
    // run on detached threads).
    set("work-stealing.relaxed-sleep-duration", caf::timespan{std::chrono::milliseconds(200)});
  }
};

}  // namespace troupe
