#include "test_server.h"

#include <sstream>
#include <stdexcept>

#include "engine/runtime/cpu_backend.h"
#include "actors/message_inspect.h"

namespace troupe::test {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

std::string HttpReply::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

HttpReply http_call(uint16_t port, const std::string& method, const std::string& target, const std::string& body,
                    const std::map<std::string, std::string>& headers) {
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64u << 20);
  http::read(stream, buffer, parser);
  HttpReply out;
  out.status = parser.get().result_int();
  out.body = parser.get().body();
  for (const auto& f : parser.get()) out.headers[std::string(f.name_string())] = std::string(f.value());
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return out;
}

std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> out;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("data: ", 0) == 0) out.push_back(line.substr(6));
  return out;
}

TestServer::TestServer(TestServerOptions o) {
  const std::string dir = std::string(TROUPE_CACHE_DIR) + "/demo-model";
  folder_ = o.folder ? o.folder : std::make_shared<const ModelFolder>(open_model_folder(dir));
  model_ = o.model ? o.model : std::shared_ptr<CpuModel>(load_cpu_model(*folder_, LoadFormat::Dummy, 0));
  sys_ = std::make_unique<caf::actor_system>(cfg_);
  engine_ = start_engine(*sys_, std::make_shared<CpuBackend>(model_), "", o.config, o.max_restarts, metrics_);
  gateway_ = spawn_gateway(*sys_, engine_, std::make_shared<const Tokenizer>(folder_->text.tokenizer),
                           GatewayOptions{metrics_, o.request_timeout});
  auto ctx = std::make_shared<net::ApiContext>();
  ctx->model = folder_;
  ctx->served_name = "demo-model";
  metrics_->model_name = "demo-model";
  ctx->gateway = gateway_;
  ctx->metrics = metrics_;
  ctx->max_waiting = o.max_waiting;
  ctx->api_key = o.api_key;
  ctx->metrics_need_key = o.metrics_need_key;
  ctx->field_gates = o.field_gates;
  ctx->prompt_logprobs = o.prompt_logprobs;
  server_ = std::make_unique<net::ApiServer>(*sys_, ctx, o.http);
}

TestServer::~TestServer() {
  server_.reset();  // shuts down (with nothing in flight, at once), the gateway included
  stop_engine(engine_);
}

SchedulerSnapshot TestServer::snapshot() {
  caf::scoped_actor self{*sys_};
  SchedulerSnapshot out;
  self->request(current_engine(*sys_, engine_).scheduler, caf::infinite, snapshot_atom::value)
      .receive([&](const SchedulerSnapshot& s) { out = s; }, [](caf::error&) { throw std::runtime_error("no snapshot"); });
  return out;
}

void TestServer::kill_scheduler() {
  caf::anon_send_exit(current_engine(*sys_, engine_).scheduler, caf::exit_reason::kill);
}

}  // namespace troupe::test
