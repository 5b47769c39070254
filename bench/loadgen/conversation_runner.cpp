#include "bench/loadgen/conversation_runner.h"

#include <memory>
#include <stdexcept>

#include <boost/asio/io_context.hpp>

#include "bench/loadgen/streaming_request.h"

namespace troupe::loadgen {
namespace {

namespace asio = boost::asio;

class ConversationRunner {
 public:
  ConversationRunner(const ConversationRunOptions& o, std::vector<ConversationPlan> plans)
      : o_(o), plans_(std::move(plans)), answers_(plans_.size()), flavor_(api_flavor_of(o.path)) {}

  ConversationRunResult run() {
    boost::system::error_code ec;
    endpoints_ = asio::ip::tcp::resolver(io_).resolve(o_.target.host, o_.target.port, ec);
    if (ec) throw std::runtime_error("cannot resolve " + o_.target.host + ": " + ec.message());
    start_ = Clock::now();
    const size_t cap = o_.concurrency > 0 ? o_.concurrency : plans_.size();
    while (next_ < plans_.size() && next_ < cap) send(next_++);
    io_.run();
    result_.duration_s = std::chrono::duration<double>(Clock::now() - start_).count();
    return std::move(result_);
  }

 private:
  // Conversation c's next turn (as many answers as it has turns done).
  void send(size_t c) {
    const size_t turn = answers_[c].size();
    StreamingRequestSpec spec{.target = &o_.target,
                              .endpoints = endpoints_,
                              .path = o_.target.path_of(o_.path),
                              .body = conversation_turn_body(plans_[c], answers_[c], turn, flavor_, o_.model,
                                                             o_.output_len, o_.extra),
                              .prompt_tokens = plans_[c].planned_tokens_per_turn * static_cast<int32_t>(turn + 1),
                              .timeout = o_.request_timeout};
    in_flight_.push_back(StreamingRequest::start(io_, std::move(spec), [this, c](RequestRecord r) { on_end(c, std::move(r)); }));
  }

  void on_end(size_t c, RequestRecord r) {
    const bool ok = r.ok;
    answers_[c].push_back(r.text);
    result_.records.push_back(std::move(r));
    if (!ok) ++result_.conversations_failed;
    // This conversation goes on; once it is over, the next one waiting starts in its place.
    if (ok && answers_[c].size() < plans_[c].user_turns.size()) return send(c);
    if (next_ < plans_.size()) send(next_++);
  }

  const ConversationRunOptions& o_;
  std::vector<ConversationPlan> plans_;
  std::vector<std::vector<std::string>> answers_;  // [conversation][turn done]
  ApiFlavor flavor_;
  asio::io_context io_;
  asio::ip::tcp::resolver::results_type endpoints_;
  std::vector<std::shared_ptr<StreamingRequest>> in_flight_;  // kept alive until the run ends
  size_t next_ = 0;  // the next conversation to start
  Clock::time_point start_;
  ConversationRunResult result_;
};

}  // namespace

ConversationRunResult run_conversations(const ConversationRunOptions& options, std::vector<ConversationPlan> plans) {
  return ConversationRunner(options, std::move(plans)).run();
}

}  // namespace troupe::loadgen
