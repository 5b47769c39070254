#pragma once
// The CAF configuration every Troupe process uses: our message types, our error category
// (actors/troupe_error.h) and the I/O module (middleman), so any actor can be published to or
// reached from another process.
#include <chrono>

#include <caf/actor_system_config.hpp>
#include <caf/timespan.hpp>
#include <caf/io/middleman.hpp>

#include "actors/message_inspect.h"
#include "actors/troupe_error.h"

namespace troupe {

struct TroupeActorSystemConfig : caf::actor_system_config {
  TroupeActorSystemConfig() {
    add_message_types<caf::id_block::troupe>();
    // render(err) of a troupe_error says its code and message, in whichever process it arrives.
    add_error_category(troupe_error_category, render_troupe_error);
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
