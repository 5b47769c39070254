#pragma once
// What a cluster head's HTTP serves with, from the file's [server] (the keys `troupe serve`'s
// flags of the same names set): resolved before anything loads, so an unreadable key file, a
// missing chat template or a bad generation config ends the head at once. Each goes through the
// function serve's flag goes through (use_api_key, read_generation_config,
// apply_chat_template_flag); only the paths differ: relative ones are from the cluster file's folder.
#include "cli/serve_http.h"
#include "engine/cluster/cluster_config.h"
#include "engine/model_folder.h"

namespace troupe::cli {

// Applies [server]'s generation_config / override_generation_config and chat_template to `folder`
// (the head's tokenizer and request defaults) and returns the HTTP settings. Throws ConfigError
// naming the file, the key's line and the key (server.api_key_file, server.chat_template, ...).
HttpServing cluster_http_serving(const ClusterConfig& config, ModelFolder& folder);

}  // namespace troupe::cli
