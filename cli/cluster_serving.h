#pragma once
// What a cluster head's HTTP serves with, from the file's [server] (the keys `troupe serve`'s
// flags of the same names set): resolved before anything loads, so an unreadable key file ends the
// head at once.
#include "cli/serve_http.h"
#include "engine/cluster/cluster_config.h"

namespace troupe::cli {

// Throws std::invalid_argument naming server.api_key_file when that file cannot give a key.
HttpServing cluster_http_serving(const ClusterConfig& config);

}  // namespace troupe::cli
