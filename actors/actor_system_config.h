#pragma once
// The CAF configuration every Troupe process uses: our message types and the I/O module
// (middleman), so any actor can be published to or reached from another process.
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#include "actors/message_inspect.h"

namespace troupe {

struct TroupeActorSystemConfig : caf::actor_system_config {
  TroupeActorSystemConfig() {
    add_message_types<caf::id_block::troupe>();
    load<caf::io::middleman>();
  }
};

}  // namespace troupe
