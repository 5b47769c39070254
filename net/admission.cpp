#include "net/admission.h"

#include "net/api_routes.h"

namespace troupe::net {

std::variant<Admission, ApiError> admit(ApiContext& ctx) {
  if (ctx.draining.load())
    return ApiError{503, "the server is shutting down; retry on another replica", "", "service_unavailable"};
  std::atomic<int64_t>& queued = *ctx.queued;
  int64_t now = queued.load();
  do {
    if (ctx.max_waiting > 0 && now >= ctx.max_waiting) {
      if (ctx.metrics) ctx.metrics->requests_rejected.fetch_add(1);
      return ApiError{429, "the server is at capacity (" + std::to_string(ctx.max_waiting) +
                               " requests waiting); retry later", "", "rate_limit_error"};
    }
  } while (!queued.compare_exchange_weak(now, now + 1));
  return std::make_shared<AdmissionTicket>(ctx.queued);
}

}  // namespace troupe::net
