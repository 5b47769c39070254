#include "engine/model/rope_frequencies.h"

#include <cmath>
#include <numbers>

namespace troupe {

std::vector<float> rope_inv_freq(const ModelConfig& c) {
  const int64_t half = c.head_dim / 2;
  std::vector<float> inv(half);
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(c.head_dim);
    inv[i] = 1.0f / std::pow(static_cast<float>(c.rope_theta), exponent);
  }
  if (!c.rope_scaling) return inv;
  // Llama 3.1: wavelengths longer than the original context / low_freq_factor are slowed by
  // `factor`; those shorter than original / high_freq_factor are kept; the band between is a
  // linear blend in 1 / wavelength.
  const auto& s = *c.rope_scaling;
  const float factor = static_cast<float>(s.factor);
  const float low_wavelen = static_cast<float>(s.original_max_position_embeddings / s.low_freq_factor);
  const float high_wavelen = static_cast<float>(s.original_max_position_embeddings / s.high_freq_factor);
  for (float& f : inv) {
    const float wavelen = 2.0f * std::numbers::pi_v<float> / f;
    if (wavelen > low_wavelen) {
      f = f / factor;
    } else if (wavelen >= high_wavelen) {
      const float smooth =
          (static_cast<float>(s.original_max_position_embeddings) / wavelen -
           static_cast<float>(s.low_freq_factor)) /
          static_cast<float>(s.high_freq_factor - s.low_freq_factor);
      f = (1.0f - smooth) * f / factor + smooth * f;
    }
  }
  return inv;
}

}  // namespace troupe
