// SamplerRng moved to kernels/common so the GPU sampler draws the same uniforms; these values were
// printed by the engine's own copy before the move, so a seeded request keeps its old text.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>

#include "kernels/common/sampler_rng.h"

namespace troupe {
namespace {

std::array<double, 3> first_three(SamplerRng rng) {
  return {rng.uniform(), rng.uniform(), rng.uniform()};
}

TEST(SamplerRng, SeedOnlyStreamIsUnchangedByTheMove) {
  EXPECT_EQ(first_three(SamplerRng(0)),
            (std::array<double, 3>{0x1.33d8be6d96ebep-1, 0x1.7edc3ef092ac8p-1, 0x1.a5f849d4933ep-4}));
  EXPECT_EQ(first_three(SamplerRng(42)),
            (std::array<double, 3>{0x1.5780b2e0c2ecp-4, 0x1.84136619b444ep-2, 0x1.5c2ea66473c93p-1}));
}

TEST(SamplerRng, PerPositionStreamIsUnchangedByTheMove) {
  EXPECT_EQ(first_three(SamplerRng(42, 0)),
            (std::array<double, 3>{0x1.ba894b33adcap-5, 0x1.a22bb343b62ep-3, 0x1.6fd8568c62a3dp-1}));
  EXPECT_EQ(first_three(SamplerRng(42, 7)),
            (std::array<double, 3>{0x1.94881547dbdd4p-2, 0x1.70c5a6c136cb7p-1, 0x1.809deecee7d8cp-2}));
  EXPECT_EQ(first_three(SamplerRng(0xdeadbeefcafef00dull, 123456789)),
            (std::array<double, 3>{0x1.4edaa24cf6fe4p-3, 0x1.6501c12419cf6p-1, 0x1.3cd8e2f4114b8p-2}));
}

TEST(SamplerRng, UniformStaysInUnitInterval) {
  SamplerRng rng(7, 3);
  for (int i = 0; i < 10000; ++i) {
    const double u = rng.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

}  // namespace
}  // namespace troupe
