#include "engine/runtime/device_sampler_row.h"

#include "engine/sampling/sampler.h"  // masked_stop_ids: the CPU sampler's min_tokens rule

namespace troupe {

cuda::SamplerRow device_sampler_row(const SamplingRow& r) {
  const SamplingParams& p = *r.params;
  return {{p.temperature, p.top_p, p.min_p, p.repetition_penalty, p.presence_penalty, p.frequency_penalty, p.top_k,
           r.seed, r.output_index},
          r.prompt,
          r.output,
          p.logit_bias,
          masked_stop_ids(p, r.output_index)};
}

}  // namespace troupe
