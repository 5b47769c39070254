#pragma once
// Gloo's own rendezvous stores behind our RendezvousStore (comm/rendezvous_store.h): an
// in-memory one for ranks that are threads of one process (tests), and a shared-directory one for
// processes of one machine (or a network file system). A cluster's store, over actor messages
// (no file, no extra port), is actors/rendezvous_actor.h's ActorRendezvousStore.
#include <memory>
#include <string>

#include "comm/rendezvous_store.h"

namespace troupe {

// Gloo's HashStore: a map in this process, shared by reference.
std::unique_ptr<RendezvousStore> make_gloo_hash_store();
// Gloo's FileStore: one file per key under `directory` (which must exist, be shared by every rank
// and start empty: a key left by an earlier group would be read as this group's).
std::unique_ptr<RendezvousStore> make_gloo_file_store(const std::string& directory);

}  // namespace troupe
