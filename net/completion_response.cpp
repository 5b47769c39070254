#include "net/completion_response.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <random>
#include <utility>

#include <caf/all.hpp>

#include "actors/message_inspect.h"
#include "net/admission.h"
#include "net/api_submit.h"

namespace troupe::net {
namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

CompletionResponse::CompletionResponse(std::shared_ptr<HttpResponder> responder, CompletionFormatter formatter,
                                       bool stream, bool include_usage, int32_t choices, int32_t per_prompt,
                                       std::optional<Tokenizer> tokenizer, bool logprobs)
    : responder_(std::move(responder)), fmt_(std::move(formatter)), stream_(stream), include_usage_(include_usage),
      per_prompt_(per_prompt), choices_(static_cast<size_t>(choices)), tokenizer_(std::move(tokenizer)) {
  if (tokenizer_ && logprobs)
    for (Choice& c : choices_) c.writer.emplace(fmt_.kind(), *tokenizer_);
}

void CompletionResponse::start() {
  if (!stream_) return;
  responder_->begin_stream(200, "text/event-stream");
  for (int32_t i = 0; i < static_cast<int32_t>(choices_.size()); ++i)
    if (std::string first = fmt_.first_chunk(i); !first.empty()) responder_->write(CompletionFormatter::sse(first));
}

void CompletionResponse::echo_prompts(std::vector<std::string> prompt_texts, int32_t logprobs) {
  echo_ = std::move(prompt_texts);
  echo_logprobs_ = logprobs;
  if (echo_.empty()) return;
  for (size_t i = 0; i < choices_.size(); ++i) {
    choices_[i].answer.text = echo_[i / static_cast<size_t>(per_prompt_)];  // the body's text starts with it
    choices_[i].echo_pending = stream_;
  }
}

void CompletionResponse::prompt_logprobs(int32_t index, const std::vector<int32_t>& prompt,
                                         std::vector<std::optional<PromptTokenLogprobs>> logprobs) {
  Choice& c = choices_[static_cast<size_t>(index)];
  if (echo_logprobs_ >= 0 && c.writer && !echo_.empty())
    c.echo_logprobs = c.writer->echo(prompt, logprobs, echo_of(index), echo_logprobs_);
  // A stream has no place for them but echo's (the route asks for none otherwise).
  if (!stream_ && tokenizer_) c.answer.prompt_logprobs = prompt_logprobs_json(*tokenizer_, logprobs);
}

void CompletionResponse::output(int32_t index, const std::string& text_in, std::vector<GeneratedToken> tokens) {
  Choice& c = choices_[static_cast<size_t>(index)];
  if (!stream_) {
    c.answer.text += text_in;
    if (c.writer) std::move(tokens.begin(), tokens.end(), std::back_inserter(c.tokens));
    return;
  }
  // A chunk per piece of text; with logprobs also per token that has none (a special token, or a
  // byte of a character the next token completes), so every token's entry is sent.
  if (text_in.empty() && (!c.writer || tokens.empty())) return;
  // vLLM's echo in a stream: the prompt's text rides in front of the choice's first piece.
  const std::string text = std::exchange(c.echo_pending, false) ? echo_of(index) + text_in : text_in;
  nlohmann::ordered_json logprobs = nullptr;
  if (c.writer) {
    logprobs = std::exchange(c.echo_logprobs, nullptr);  // with echo, the prompt's entries lead
    append_completion_logprobs(logprobs, c.writer->next(tokens));
  }
  responder_->write(CompletionFormatter::sse(fmt_.text_chunk(text, index, logprobs)));
}

void CompletionResponse::finish(int32_t index, const std::string& gateway_reason, int32_t prompt_tokens,
                                int32_t completion_tokens) {
  const std::string reason = gateway_reason == "stop_string" ? "stop" : gateway_reason;  // OpenAI: one "stop"
  Choice& c = choices_[static_cast<size_t>(index)];
  c.answer.finish_reason = reason;
  if (!stream_ && c.writer) {
    c.answer.logprobs = std::exchange(c.echo_logprobs, nullptr);  // with echo, the prompt's entries lead
    append_completion_logprobs(c.answer.logprobs, c.writer->next(c.tokens));
  }
  if (index % per_prompt_ == 0) prompt_tokens_ += prompt_tokens;  // each prompt once, not per choice
  completion_tokens_ += completion_tokens;
  if (stream_ && std::exchange(c.echo_pending, false))  // no text came: the prompt alone
    responder_->write(CompletionFormatter::sse(fmt_.text_chunk(echo_of(index), index, std::exchange(c.echo_logprobs, nullptr))));
  if (stream_) responder_->write(CompletionFormatter::sse(fmt_.final_chunk(reason, index)));
  if (++finished_ < static_cast<int32_t>(choices_.size()) || failed_) return;
  if (!stream_) {
    std::vector<CompletionChoice> answers;
    for (Choice& ch : choices_) answers.push_back(std::move(ch.answer));
    responder_->reply(200, "application/json", fmt_.full_response(answers, prompt_tokens_, completion_tokens_));
    return;
  }
  if (include_usage_) responder_->write(CompletionFormatter::sse(fmt_.usage_chunk(prompt_tokens_, completion_tokens_)));
  responder_->write(CompletionFormatter::sse_done());
  responder_->end_stream();
}

namespace {

// A response id nobody can guess or count (vLLM's is a random UUID's 32 hex digits): sequential
// ids told every client how busy the server is and collided across restarts in client logs.
std::string random_hex_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::array<char, 33> buf{};
  std::snprintf(buf.data(), buf.size(), "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf.data();
}

}  // namespace

void CompletionResponse::error(const ApiError& e) {
  if (failed_) return;
  failed_ = true;
  end_with_error(*responder_, stream_, e);
}

// vLLM's all_stop_token_ids: the request's stop ids and, unless ignore_eos, the model's EOS ids,
// so that min_tokens holds EOS off in the sampler too.
SamplingParams with_model_stop_ids(SamplingParams p, const std::vector<int32_t>& eos) {
  if (p.ignore_eos) return p;
  for (int32_t id : eos)
    if (std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), id) == p.stop_token_ids.end()) p.stop_token_ids.push_back(id);
  return p;
}

void handle_completion(ApiContext& ctx, ApiKind kind, const HttpRequest& req, std::shared_ptr<HttpResponder> responder) {
  // Admission control: a bounded queue answers "later" instead of growing without bound.
  auto admitted = admit(ctx);
  if (auto* e = std::get_if<ApiError>(&admitted)) return reply_api_error(*responder, *e, {{"Retry-After", "1"}});
  auto parsed = parse_completion_request(kind, req.body(), *ctx.model, ctx.served_name, ctx.field_gates);
  if (auto* e = std::get_if<ApiError>(&parsed)) return reply_api_error(*responder, *e);
  CompletionRequest& r = std::get<CompletionRequest>(parsed);
  if (!ctx.logit_adjustments)
    for (auto [asked, field] : {std::pair{!r.params.logit_bias.empty(), "logit_bias"}, std::pair{r.params.min_tokens > 0, "min_tokens"}})
      if (asked)
        return reply_api_error(*responder, ApiError{400, std::string("'") + field + "' is not supported yet with a remote executor (its backend is not known here)", field});
  if (!ctx.prompt_logprobs && r.params.prompt_logprobs >= 0) {
    // echo with logprobs asked for them when the body did not.
    const std::string field = r.prompt_logprobs_given ? "prompt_logprobs" : "echo";
    return reply_api_error(*responder, ApiError{400, "'" + field + "' is not supported yet on this executor (it cannot "
                                                     "score every prompt token: only a CPU executor holding the whole LM head can)", field});
  }
  const int32_t choices = r.num_choices();
  const SeqId first_id = ctx.next_id.fetch_add(static_cast<uint64_t>(choices));
  const std::string request_id =
      (kind == ApiKind::Chat ? "chatcmpl-" : "cmpl-") + (r.request_id.empty() ? random_hex_id() : r.request_id);
  auto response = std::make_shared<CompletionResponse>(
      responder, CompletionFormatter(kind, r.model_name, request_id, unix_now()), r.stream, r.include_usage, choices,
      r.n, r.params.logprobs >= 0 || r.params.prompt_logprobs >= 0 ? std::optional<Tokenizer>(ctx.model->text.tokenizer) : std::nullopt,
      r.params.logprobs >= 0);
  response->echo_prompts(std::move(r.echo), r.echo_logprobs ? r.params.logprobs : -1);
  response->start();
  caf::actor gateway = ctx.gateway;
  std::vector<SeqId> ids;
  for (int32_t i = 0; i < choices; ++i) ids.push_back(first_id + static_cast<SeqId>(i));
  responder->on_disconnect([gateway, ids] {
    for (SeqId id : ids) caf::anon_send(gateway, abort_atom::value, id);
  });
  const SamplingParams params = with_model_stop_ids(r.params, ctx.model->eos_token_ids);
  // vLLM's order: choice index = prompt * n + choice within the prompt.
  for (int32_t i = 0; i < choices; ++i) {
    const PromptInput& prompt = r.prompts[static_cast<size_t>(i / r.n)];
    auto g = std::make_shared<GatewayRequest>();
    g->generation.id = ids[static_cast<size_t>(i)];
    g->generation.prompt_token_ids = prompt.ids;
    g->generation.sampling_params = params;
    g->generation.sampling_params.max_tokens = prompt.max_tokens;
    // Choices differ by seed; with a seed given, the i-th choice is reproducible too.
    if (r.params.seed && r.n > 1) g->generation.sampling_params.seed = *r.params.seed + static_cast<uint64_t>(i % r.n);
    g->generation.sampling_params = with_server_seed(ctx, g->generation.sampling_params, g->generation.id);
    g->generation.eos_token_ids = ctx.model->eos_token_ids;
    g->generation.priority = r.priority;  // non-zero only under --scheduling-policy priority
    g->stop = r.stop;
    g->skip_special_tokens = r.output.skip_special_tokens;
    g->include_stop_str_in_output = r.output.include_stop_str_in_output;
    g->sink = std::make_shared<AdmittedSink>(std::make_shared<ChoiceSink>(response, i), std::get<Admission>(admitted));
    caf::anon_send(gateway, submit_atom::value, std::move(g));
  }
}

}  // namespace troupe::net
