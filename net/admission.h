#pragma once
// Admission: --max-queue-depth, counted by the HTTP layer itself. A generation request holds an
// AdmissionTicket from the moment it is admitted until it starts producing tokens or ends; the
// number of tickets held is what the next request is admitted against, claimed with one
// compare-and-swap. (Reading the scheduler's waiting gauge instead let a burst overshoot: the
// gauge moves a step later, so 256 simultaneous requests all saw the same stale count and 18-51
// were admitted at depth 8.) A request counts as queued until its first token, which errs on the
// side of admitting fewer: a long prompt still being prefilled counts as waiting.
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "actors/gateway_actor.h"
#include "net/api_error.h"

namespace troupe::net {

struct ApiContext;

class AdmissionTicket {
 public:
  explicit AdmissionTicket(std::shared_ptr<std::atomic<int64_t>> queued) : queued_(std::move(queued)) {}
  AdmissionTicket(const AdmissionTicket&) = delete;
  AdmissionTicket& operator=(const AdmissionTicket&) = delete;
  ~AdmissionTicket() { release(); }
  void release() {
    if (!released_.exchange(true)) queued_->fetch_sub(1);
  }

 private:
  std::shared_ptr<std::atomic<int64_t>> queued_;
  std::atomic<bool> released_{false};
};

using Admission = std::shared_ptr<AdmissionTicket>;

// A ticket, or the error to answer: 503 while the server shuts down, 429 (counted as rejected)
// when ctx.max_waiting tickets are held. With no limit a ticket is still issued and counted.
std::variant<Admission, ApiError> admit(ApiContext& ctx);

// The sink a generation route hands the gateway: the route's own sink, plus the ticket, released
// when the request runs (its first token) or ends.
class AdmittedSink : public RequestSink {
 public:
  AdmittedSink(std::shared_ptr<RequestSink> sink, Admission ticket)
      : sink_(std::move(sink)), ticket_(std::move(ticket)) {}
  void on_running() override { ticket_->release(); }
  void on_output(const std::string& text, std::vector<GeneratedToken> tokens) override {
    ticket_->release();
    sink_->on_output(text, std::move(tokens));
  }
  void on_prompt_logprobs(const std::vector<int32_t>& prompt,
                          std::vector<std::optional<PromptTokenLogprobs>> logprobs) override {
    sink_->on_prompt_logprobs(prompt, std::move(logprobs));
  }
  void on_finish(const std::string& reason, int32_t prompt_tokens, int32_t completion_tokens) override {
    ticket_->release();
    sink_->on_finish(reason, prompt_tokens, completion_tokens);
  }
  void on_error(troupe_error code, const std::string& message) override {
    ticket_->release();
    sink_->on_error(code, message);
  }

 private:
  std::shared_ptr<RequestSink> sink_;
  Admission ticket_;
};

}  // namespace troupe::net
