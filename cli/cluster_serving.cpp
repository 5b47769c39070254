#include "cli/cluster_serving.h"

#include <stdexcept>

#include "net/api_key.h"

namespace troupe::cli {

HttpServing cluster_http_serving(const ClusterConfig& config) {
  const ServerSection& s = config.server;
  HttpServing o;
  o.http.http.host = s.host;
  o.http.http.port = s.port;
  o.served_model_names = s.served_model_name;
  o.seed = s.seed;
  o.metrics_need_key = s.metrics_need_api_key;
  o.max_queue_depth = s.max_queue_depth;
  o.request_timeout = static_cast<int>(s.request_timeout_s);
  // The last stage scores prompt tokens on a CPU that holds the whole LM head; a tensor-parallel
  // cluster splits it by vocabulary, and a GPU computes the sampled rows' logits only.
  o.prompt_logprobs = config.model.device == ClusterDevice::Cpu && config.model.tensor_parallel == 1;
  std::string file = s.api_key_file;
  if (!file.empty() && std::filesystem::path(file).is_relative()) file = (config.file.parent_path() / file).string();
  try {
    use_api_key(o, net::resolve_api_key("", file));
  } catch (const std::exception& e) {
    throw std::invalid_argument(config.file.string() + ": server.api_key_file: " + e.what());
  }
  return o;
}

}  // namespace troupe::cli
