#pragma once
// What a step's SamplingRow becomes for the GPU sampler (kernels/cuda's DeviceSampler): its
// settings as RowSamplingParams and its lists as spans (kernels/common/sampler_lists.h packs them
// for the device). Plain C++ on kernels/common's headers, so it is built and tested without CUDA.
#include "engine/runtime/model_backend.h"  // SamplingRow
#include "kernels/common/sampler_lists.h"  // cuda::SamplerRow

namespace troupe {

// Views into r's params and token lists: valid while they are. logit_bias goes as it is; the
// banned ids are masked_stop_ids at r.output_index, not at r.output.size(): a row launched ahead
// of the step that samples its previous token has an output one short (output_index counts it;
// penalties, which read the output, keep such rows in lock step instead).
cuda::SamplerRow device_sampler_row(const SamplingRow& r);

}  // namespace troupe
