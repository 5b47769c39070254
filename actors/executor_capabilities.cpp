#include "actors/executor_capabilities.h"

#include <string>

#include <caf/all.hpp>

#include "actors/message_inspect.h"

namespace troupe {

caf::expected<BackendCapabilities> ask_capabilities(caf::actor_system& sys, const caf::actor& executor,
                                                    std::chrono::milliseconds within) {
  caf::expected<BackendCapabilities> answer{caf::sec::request_timeout};
  caf::scoped_actor self{sys};
  self->request(executor, within, capabilities_atom::value)
      .receive([&](const BackendCapabilities& c) { answer = c; }, [&](caf::error& e) { answer = std::move(e); });
  return answer;
}

std::string capabilities_lost(const BackendCapabilities& had, const BackendCapabilities& now) {
  std::string lost;
  if (had.applies_logit_adjustments && !now.applies_logit_adjustments) lost = "logit_bias and min_tokens";
  if (had.computes_prompt_logprobs && !now.computes_prompt_logprobs)
    lost += std::string(lost.empty() ? "" : ", ") + "prompt_logprobs";
  return lost;
}

}  // namespace troupe
