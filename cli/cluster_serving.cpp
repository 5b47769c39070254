#include "cli/cluster_serving.h"

#include <exception>
#include <filesystem>
#include <system_error>

#include "cli/generation_config_flags.h"
#include "cli/vllm_flags.h"
#include "engine/generation_config.h"
#include "net/api_key.h"

namespace troupe::cli {
namespace {

namespace fs = std::filesystem;

// A relative path from the cluster file's folder, as every path in the file is.
std::string from_file_folder(const ClusterConfig& config, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (config.file.parent_path() / path).string();
}

// --chat-template's FILE-or-TEXT rule (resolve_chat_template_arg), with a relative FILE from the
// cluster file's folder: the value names a file there when one opens, or when it cannot be
// template text (no '{', '}' or newline: then the error names the path looked at).
std::string chat_template_arg(const ClusterConfig& config, const std::string& value) {
  if (value.empty() || fs::path(value).is_absolute()) return value;
  const std::string there = from_file_folder(config, value);
  std::error_code ec;
  if (fs::is_regular_file(there, ec) || value.find_first_of("{}\n") == std::string::npos) return there;
  return value;
}

// auto and vllm are modes; anything else is a folder.
std::string generation_config_arg(const ClusterConfig& config, const std::string& value) {
  return value == "auto" || value == "vllm" ? value : from_file_folder(config, value);
}

void apply_generation_config(const ClusterConfig& config, ModelFolder& folder) {
  const ServerSection& s = config.server;
  const GenerationConfigFlags flags{generation_config_arg(config, s.generation_config), s.override_generation_config};
  const bool overridden = !flags.override_json.empty();
  // With an override, the file (or folder) alone first, so a failure names the key that caused it;
  // without one, every failure is the file's and it is read once.
  if (overridden) {
    try {
      load_generation_defaults(flags.mode, folder.dir, "");
    } catch (const std::exception& e) {
      throw config.error("server.generation_config", e.what());
    }
  }
  try {
    apply_generation_defaults(folder, read_generation_config(flags, folder.dir));
  } catch (const std::exception& e) {
    throw config.error(overridden ? "server.override_generation_config" : "server.generation_config", e.what());
  }
}

}  // namespace

HttpServing cluster_http_serving(const ClusterConfig& config, ModelFolder& folder) {
  const ServerSection& s = config.server;
  HttpServing o;
  o.http.http.host = s.host;
  o.http.http.port = s.port;
  o.http.threads = static_cast<int>(s.http_threads);
  o.http.http.max_connections = static_cast<size_t>(s.max_connections);
  o.http.http.max_connections_per_client = static_cast<size_t>(s.max_connections_per_client);
  o.http.http.header_timeout = std::chrono::seconds(s.header_timeout_s);
  o.http.http.idle_timeout = std::chrono::seconds(s.keep_alive_timeout_s);
  o.http.shutdown_timeout = std::chrono::seconds(s.shutdown_timeout_s);
  o.served_model_names = s.served_model_name;
  o.seed = s.seed;
  o.metrics_prefix = s.metrics_prefix;
  o.metrics_need_key = s.metrics_need_api_key;
  o.max_queue_depth = s.max_queue_depth;
  o.request_timeout = static_cast<int>(s.request_timeout_s);
  o.field_gates.trust_request_chat_template = s.trust_request_chat_template;
  o.field_gates.priority_scheduling = s.priority_scheduling;
  // The last stage scores prompt tokens on a CPU that holds the whole LM head; a tensor-parallel
  // cluster splits it by vocabulary, and a GPU computes the sampled rows' logits only.
  o.prompt_logprobs = config.model.device == ClusterDevice::Cpu && config.model.tensor_parallel == 1;
  try {
    use_api_key(o, net::resolve_api_key("", from_file_folder(config, s.api_key_file)));
  } catch (const std::exception& e) {
    throw config.error("server.api_key_file", e.what());
  }
  apply_generation_config(config, folder);
  VllmServeFlags template_flag;
  template_flag.chat_template = chat_template_arg(config, s.chat_template);
  try {
    apply_chat_template_flag(template_flag, folder.text);
  } catch (const std::exception& e) {
    throw config.error("server.chat_template", e.what());
  }
  return o;
}

}  // namespace troupe::cli
