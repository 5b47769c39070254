#include "net/request_fields.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <set>

#include <spdlog/spdlog.h>

#include "net/json_body.h"

namespace troupe::net {
namespace {

using nlohmann::ordered_json;
using S = FieldStatus;

// vLLM's CompletionRequest, then ChatCompletionRequest's own fields (vllm/entrypoints/openai/
// protocol.py). `accepted` values are compared as JSON (1 equals 1.0).
constexpr std::array kFields = {
    RequestField{"model", true, true, S::Honored, "", "", "tests/net/serve_api_test.cpp:BadRequestsGetOpenAIErrorsNamingTheFieldAndTheServerCarriesOn",
                 "one of the served names (--served-model-name A B), which the response repeats, or absent; anything else is a 404"},
    RequestField{"prompt", true, false, S::Honored, "", "", "tests/net/serve_vllm_fields_test.cpp:BatchPromptsGetOneChoiceEachInOrder",
                 "a string, token ids, or a batch of either (choices indexed prompt * n + choice)"},
    RequestField{"prompt_embeds", true, false, S::Refused, "", R"({"prompt_embeds": "AAAA"})", "", "not supported yet"},
    RequestField{"best_of", true, true, S::Refused, "1", R"({"best_of": 2})", "", "not supported yet (vLLM v1 dropped it too)"},
    RequestField{"echo", true, false, S::Honored, "", R"({"echo": true})", "tests/net/serve_vllm_fields_test.cpp:EchoPrependsThePrompt",
                 "each choice's text starts with its prompt's (streamed: in its first chunk); with logprobs the prompt tokens' "
                 "logprobs lead the choice's, the first one null (CPU executors)"},
    RequestField{"echo", false, true, S::Refused, "false", R"({"echo": true})", "", "not supported yet on chat"},
    RequestField{"frequency_penalty", true, true, S::Honored, "", R"({"frequency_penalty": 1.5})",
                 "tests/net/serve_vllm_fields_test.cpp:SamplingFieldsChangeTheDraw", ""},
    RequestField{"logit_bias", true, true, S::Honored, "", R"({"logit_bias": {"11": 5}})",
                 "tests/net/serve_vllm_fields_test.cpp:LogitBiasForcesAToken",
                 "token id (a string key) to a bias in [-100, 100], added before penalties"},
    RequestField{"logprobs", true, true, S::Honored, "", "", "tests/net/serve_logprobs_test.cpp:GreedyCompletionsTopAlternativeIsTheSampledToken",
                 "completions: a count up to 20; chat: true with top_logprobs"},
    RequestField{"max_tokens", true, true, S::Honored, "", R"({"max_tokens": 3})",
                 "tests/net/serve_api_test.cpp:GreedyCompletionEqualsTheOfflineGenerator", ""},
    RequestField{"n", true, true, S::Honored, "", R"({"n": 2})", "tests/net/serve_api_test.cpp:NChoicesAreIndexedStreamedAndCounted", "up to 16"},
    RequestField{"presence_penalty", true, true, S::Honored, "", R"({"presence_penalty": 1.5})",
                 "tests/net/serve_vllm_fields_test.cpp:SamplingFieldsChangeTheDraw", ""},
    RequestField{"seed", true, true, S::Honored, "", R"({"seed": 7})", "tests/net/serve_vllm_fields_test.cpp:SamplingFieldsChangeTheDraw",
                 "same seed, same text (on either device)"},
    RequestField{"stop", true, true, S::Honored, "", R"({"stop": ["\n"]})",
                 "tests/net/serve_api_test.cpp:StopStringEndsTheTextBeforeItWithReasonStop", ""},
    RequestField{"stream", true, true, S::Honored, "", R"({"stream": true})",
                 "tests/net/serve_api_test.cpp:StreamedDeltasConcatenateToTheNonStreamedText", ""},
    RequestField{"stream_options", true, true, S::Honored, "", R"({"stream": true, "stream_options": {"include_usage": true}})",
                 "tests/net/serve_vllm_fields_test.cpp:StreamOptionsNeedStream",
                 "include_usage; without stream: true a 400, as in vLLM"},
    RequestField{"suffix", true, false, S::Refused, "", R"({"suffix": "end"})", "", "not supported yet"},
    RequestField{"temperature", true, true, S::Honored, "", R"({"temperature": 0.5})",
                 "tests/net/serve_vllm_fields_test.cpp:SamplingFieldsChangeTheDraw", "0 is greedy"},
    RequestField{"top_p", true, true, S::Honored, "", R"({"top_p": 0.5})", "tests/net/serve_vllm_fields_test.cpp:SamplingFieldsChangeTheDraw", ""},
    RequestField{"user", true, true, S::Inert, "", R"({"user": "someone"})", "", "accepted; vLLM does nothing with it either"},
    RequestField{"use_beam_search", true, true, S::Refused, "false", R"({"use_beam_search": true})", "", "not supported yet"},
    RequestField{"top_k", true, true, S::Honored, "", R"({"top_k": 5})", "tests/net/serve_vllm_fields_test.cpp:SamplingFieldsChangeTheDraw", ""},
    RequestField{"min_p", true, true, S::Honored, "", R"({"min_p": 0.5})", "tests/net/serve_vllm_fields_test.cpp:SamplingFieldsChangeTheDraw", ""},
    RequestField{"repetition_penalty", true, true, S::Honored, "", R"({"repetition_penalty": 1.5})",
                 "tests/net/serve_vllm_fields_test.cpp:SamplingFieldsChangeTheDraw", ""},
    RequestField{"length_penalty", true, true, S::Inert, "", R"({"length_penalty": 2})", "",
                 "accepted; only beam search reads it in vLLM, and beam search is refused"},
    RequestField{"stop_token_ids", true, true, S::Honored, "", R"({"stop_token_ids": [11]})",
                 "tests/net/serve_vllm_fields_test.cpp:StopTokenIdsEndTheSequenceWithoutTheirText",
                 "end the sequence even with ignore_eos; the stopping token's text is left out"},
    RequestField{"include_stop_str_in_output", true, true, S::Honored, "", R"({"include_stop_str_in_output": true})",
                 "tests/net/serve_vllm_fields_test.cpp:IncludeStopStrInOutputKeepsTheStop",
                 "keeps the matched stop string, or the stopping token's text"},
    RequestField{"ignore_eos", true, true, S::Honored, "", R"({"ignore_eos": true})",
                 "tests/net/serve_vllm_fields_test.cpp:MinTokensHoldsOffAForcedEos", ""},
    RequestField{"min_tokens", true, true, S::Honored, "", R"({"min_tokens": 2})",
                 "tests/net/serve_vllm_fields_test.cpp:MinTokensHoldsOffAForcedEos",
                 "EOS and stop_token_ids are neither drawn nor stop before it"},
    RequestField{"skip_special_tokens", true, true, S::Honored, "", R"({"skip_special_tokens": false})",
                 "tests/net/serve_vllm_fields_test.cpp:SkipSpecialTokensFalseShowsThem", ""},
    RequestField{"spaces_between_special_tokens", true, true, S::Inert, "", R"({"spaces_between_special_tokens": false})", "",
                 "accepted; vLLM's detokenizer for tokenizer.json (fast) tokenizers ignores it too"},
    RequestField{"truncate_prompt_tokens", true, true, S::Honored, "", R"({"truncate_prompt_tokens": 2})",
                 "tests/net/serve_vllm_fields_test.cpp:TruncatePromptTokensKeepsTheLastK", "keeps the prompt's last k tokens"},
    RequestField{"allowed_token_ids", true, true, S::Refused, "", R"({"allowed_token_ids": [1, 2]})", "", "not supported yet"},
    RequestField{"prompt_logprobs", true, true, S::Honored, "", R"({"prompt_logprobs": 1})",
                 "tests/net/serve_prompt_logprobs_test.cpp:PromptLogprobsAreTheModelsLogSoftmaxAtEachPosition",
                 "0 to 20 alternatives per prompt token, as vLLM's list (first entry null; on the choice, on chat once on the "
                 "response); not with stream, -1 (whole vocabulary) a 400; such a request takes no prefix-cache hit (CPU executors)"},
    RequestField{"add_special_tokens", true, true, S::Honored, "", R"({"add_special_tokens": false})",
                 "tests/net/chat_fields_test.cpp:AddSpecialTokensControlsTheBos",
                 "default true on completions, false on chat (the template adds them)"},
    RequestField{"response_format", true, true, S::Partial, R"({"type": "text"})", R"({"response_format": {"type": "json_object"}})",
                 "tests/net/serve_vllm_fields_test.cpp:ResponseFormatTextIsHonoredOthersRefused",
                 "only {\"type\": \"text\"} until structured outputs land"},
    RequestField{"guided_json", true, true, S::Refused, "", R"({"guided_json": {"type": "object"}})", "", "not supported yet"},
    RequestField{"guided_regex", true, true, S::Refused, "", R"({"guided_regex": "a+"})", "", "not supported yet"},
    RequestField{"guided_choice", true, true, S::Refused, "", R"({"guided_choice": ["a", "b"]})", "", "not supported yet"},
    RequestField{"guided_grammar", true, true, S::Refused, "", R"({"guided_grammar": "root ::= \"a\""})", "", "not supported yet"},
    RequestField{"guided_decoding_backend", true, true, S::Refused, "", R"({"guided_decoding_backend": "xgrammar"})", "", "not supported yet"},
    RequestField{"guided_whitespace_pattern", true, true, S::Refused, "", R"({"guided_whitespace_pattern": " "})", "", "not supported yet"},
    RequestField{"structured_outputs", true, true, S::Refused, "", R"({"structured_outputs": {"regex": "a+"}})", "", "not supported yet"},
    RequestField{"priority", true, true, S::Honored, "0", R"({"priority": 1})",
                 "tests/net/serve_scheduling_policy_test.cpp:PriorityOrdersTheWaitingQueue", "lower is served earlier among waiting requests (ties by arrival)",
                 "--scheduling-policy priority"},
    RequestField{"request_id", true, true, S::Honored, "", R"({"request_id": "abc"})",
                 "tests/net/serve_vllm_fields_test.cpp:RequestIdNamesTheResponse", "the response id is cmpl- / chatcmpl- and it"},
    RequestField{"logits_processors", true, true, S::Refused, "", R"({"logits_processors": ["my.Processor"]})", "", "not supported yet"},
    RequestField{"return_tokens_as_token_ids", true, true, S::Refused, "false", R"({"return_tokens_as_token_ids": true})", "", "not supported yet"},
    RequestField{"return_token_ids", true, true, S::Refused, "false", R"({"return_token_ids": true})", "", "not supported yet"},
    RequestField{"cache_salt", true, true, S::Refused, "", R"({"cache_salt": "salt"})", "", "not supported yet"},
    RequestField{"kv_transfer_params", true, true, S::Refused, "", R"({"kv_transfer_params": {"do_remote_decode": true}})", "", "not supported yet"},
    RequestField{"vllm_xargs", true, true, S::Refused, "{}", R"({"vllm_xargs": {"a": 1}})", "", "not supported yet"},
    RequestField{"bad_words", false, true, S::Refused, "[]", R"({"bad_words": ["x"]})", "", "not supported yet"},
    // Chat only.
    RequestField{"messages", false, true, S::Honored, "", "", "tests/net/serve_chat_fields_test.cpp:ContentPartsAreJoinedAndRolesChecked",
                 "roles system, developer, user, assistant, tool, function; content a string or text parts (joined by newlines); other parts are 400s"},
    RequestField{"top_logprobs", false, true, S::Honored, "", R"({"logprobs": true, "top_logprobs": 2})",
                 "tests/net/serve_logprobs_test.cpp:ChatLogprobsHaveOpenAIsShapeStreamedOrNot", "up to 20"},
    RequestField{"max_completion_tokens", false, true, S::Honored, "", R"({"max_completion_tokens": 2})",
                 "tests/net/serve_chat_fields_test.cpp:MaxCompletionTokensWinsOverMaxTokens", "wins over max_tokens"},
    RequestField{"tools", false, true, S::Honored, "", R"({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "none"})",
                 "tests/net/chat_fields_test.cpp:TemplateInputsReachTheTemplate",
                 "handed to the chat template; with tools, tool_choice must be \"none\" (no tool parser yet)"},
    RequestField{"tool_choice", false, true, S::Partial, R"("none")", R"({"tool_choice": "auto"})",
                 "tests/net/chat_fields_test.cpp:TemplateInputsReachTheTemplate", "only \"none\" until tool parsing lands"},
    RequestField{"reasoning_effort", false, true, S::Refused, "", R"({"reasoning_effort": "low"})", "", "not supported yet"},
    RequestField{"include_reasoning", false, true, S::Refused, "true", R"({"include_reasoning": false})", "", "not supported yet (no reasoning parser)"},
    RequestField{"parallel_tool_calls", false, true, S::Inert, "", R"({"parallel_tool_calls": true})", "",
                 "accepted; vLLM ignores it too (the model decides)"},
    RequestField{"add_generation_prompt", false, true, S::Honored, "", R"({"add_generation_prompt": false})",
                 "tests/net/serve_chat_fields_test.cpp:GenerationPromptAndContinueFinalMessageShapeThePrompt", "default true"},
    RequestField{"continue_final_message", false, true, S::Honored, "", R"({"continue_final_message": true, "add_generation_prompt": false})",
                 "tests/net/serve_chat_fields_test.cpp:GenerationPromptAndContinueFinalMessageShapeThePrompt",
                 "the prompt ends inside the last message; with add_generation_prompt: true a 400"},
    RequestField{"documents", false, true, S::Honored, "", R"({"documents": [{"title": "t", "text": "x"}]})",
                 "tests/net/chat_fields_test.cpp:TemplateInputsReachTheTemplate", "handed to the chat template"},
    RequestField{"chat_template", false, true, S::Honored, "", R"({"chat_template": "{{ messages }}"})",
                 "tests/net/serve_chat_fields_test.cpp:RequestChatTemplateOnlyBehindItsFlag",
                 "replaces the model's template for this request (a client's template runs on the server)",
                 "--trust-request-chat-template"},
    RequestField{"chat_template_kwargs", false, true, S::Honored, "", R"({"chat_template_kwargs": {"enable_thinking": false}})",
                 "tests/net/serve_chat_fields_test.cpp:ChatTemplateKwargsReachTheTemplate", "template variables; the ones we set are 400s"},
    RequestField{"mm_processor_kwargs", false, true, S::Refused, "{}", R"({"mm_processor_kwargs": {"a": 1}})", "", "not supported yet (no multimodal models)"},
    RequestField{"structural_tag", false, true, S::Refused, "", R"({"structural_tag": "{}"})", "", "not supported yet"},
};

std::vector<ordered_json> accepted_values(std::string_view accepted) {
  std::vector<ordered_json> out;
  size_t begin = 0;
  while (begin < accepted.size()) {
    size_t end = accepted.find(" | ", begin);
    if (end == std::string_view::npos) end = accepted.size();
    out.push_back(ordered_json::parse(accepted.substr(begin, end - begin)));
    begin = end + 3;
  }
  return out;
}

bool on_route(const RequestField& f, ApiKind kind) { return kind == ApiKind::Chat ? f.chat : f.completion; }

const char* status_words(FieldStatus s) {
  switch (s) {
    case S::Honored: return "honored";
    case S::Partial: return "partly";
    case S::Refused: return "400";
    case S::Inert: return "accepted, no effect";
  }
  return "";
}

}  // namespace

std::span<const RequestField> request_fields() { return kFields; }

const RequestField* find_request_field(ApiKind kind, std::string_view name) {
  for (const RequestField& f : kFields)
    if (f.name == name && on_route(f, kind)) return &f;
  return nullptr;
}

bool FieldGates::opens(std::string_view gate) const {
  if (gate == "--trust-request-chat-template") return trust_request_chat_template;
  if (gate == "--scheduling-policy priority") return priority_scheduling;
  return false;
}

std::string_view FieldGates::cluster_key(std::string_view gate) {
  if (gate == "--trust-request-chat-template") return "trust_request_chat_template = true";
  if (gate == "--scheduling-policy priority") return "scheduling_policy = \"priority\"";
  return "";
}

std::optional<ApiError> refuse_unsupported_fields(ApiKind kind, const ordered_json& body, const FieldGates& gates) {
  for (const auto& [key, value] : body.items()) {
    const RequestField* f = find_request_field(kind, key);
    if (f == nullptr || value.is_null()) continue;
    const bool closed_gate = !f->gate.empty() && !gates.opens(f->gate);
    if (f->status != S::Refused && f->status != S::Partial && !closed_gate) continue;
    const std::vector<ordered_json> ok = accepted_values(f->accepted);
    if (std::find(ok.begin(), ok.end(), value) != ok.end()) continue;
    const std::string name(f->name);
    if (closed_gate)
      return ApiError{400, "'" + name + "' needs the server started with " + std::string(f->gate) +
                               " (as vLLM; a cluster head: [server] " + std::string(FieldGates::cluster_key(f->gate)) + ")",
                      name};
    if (f->status == S::Partial)
      return ApiError{400, "'" + name + "' " + json_excerpt(value) + " is not supported yet (only " +
                               std::string(f->accepted) + ")", name};
    return ApiError{400, "'" + name + "' is not supported yet", name};
  }
  return std::nullopt;
}

std::vector<std::string> unknown_request_fields(ApiKind kind, const ordered_json& body) {
  std::vector<std::string> out;
  for (const auto& [key, value] : body.items())
    if (find_request_field(kind, key) == nullptr) out.push_back(key);
  return out;
}

std::vector<std::string> warn_unknown_fields_once(const std::vector<std::string>& names) {
  static std::mutex mu;
  static std::set<std::string> seen;
  std::vector<std::string> fresh;
  {
    std::lock_guard lock(mu);
    for (const std::string& n : names)
      if (seen.insert(n).second) fresh.push_back(n);
  }
  for (const std::string& n : fresh)
    spdlog::warn("request field '{}' is neither OpenAI's nor vLLM's; ignored (said once per field)", json_excerpt(ordered_json(n)));
  return fresh;
}

std::string request_fields_markdown() {
  std::string out = "| field | /v1/completions | /v1/chat/completions | what Troupe does |\n| --- | --- | --- | --- |\n";
  for (const RequestField& f : kFields) {
    const char* status = status_words(f.status);
    std::string what(f.note);
    if (f.status == S::Partial) what = "honored for " + std::string(f.accepted) + "; " + what;
    if (f.status == S::Refused && !f.accepted.empty()) what = "400 unless " + std::string(f.accepted) + "; " + what;
    if (!f.gate.empty())
      what = "with serve's `" + std::string(f.gate) + "` (a cluster head's `" + std::string(FieldGates::cluster_key(f.gate)) +
             "`); without it a 400" +
             (f.accepted.empty() ? "" : " unless " + std::string(f.accepted)) + ". " + what;
    for (char& c : what)
      if (c == '|') c = '/';
    out += "| `" + std::string(f.name) + "` | " + (f.completion ? status : "-") + " | " + (f.chat ? status : "-") + " | " +
           what + " |\n";
  }
  return out;
}

}  // namespace troupe::net
