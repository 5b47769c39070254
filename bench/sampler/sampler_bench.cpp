// sampler_bench: microseconds per sample_token call (engine/sampling) on one row of logits, for
// row shapes and sampling settings a server sees. A program run by hand; results in
// docs/benchmarks.md. Usage: sampler_bench [--vocab N] [--calls N]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "engine/sampling/sampler.h"

int main(int argc, char** argv) {
  CLI::App app{"sample_token time per call"};
  size_t vocab = 151936;
  int calls = 200;
  app.add_option("--vocab", vocab, "logits per row")->capture_default_str();
  app.add_option("--calls", calls, "calls per setting (the median is printed)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  struct Setting { const char* name; float temperature; int32_t top_k; float top_p, min_p; };
  const Setting settings[] = {{"T=1", 1.0f, 0, 1.0f, 0.0f},
                              {"T=0.7 top_p=0.9", 0.7f, 0, 0.9f, 0.0f},
                              {"T=0.8 top_k=50", 0.8f, 50, 1.0f, 0.0f},
                              {"T=1 min_p=0.05", 1.0f, 0, 1.0f, 0.05f}};
  std::mt19937_64 rng(7);
  // flat: a dummy-weight model's row (every token nearly as likely); peaked: a real model's
  // (normal logits, std 2, a few tokens far ahead).
  for (const char* shape : {"flat", "peaked"}) {
    const bool flat = shape[0] == 'f';
    std::normal_distribution<float> normal(0.0f, flat ? 0.05f : 2.0f);
    std::vector<float> row(vocab);
    for (float& x : row) x = normal(rng);
    if (!flat)
      for (int k = 0; k < 5; ++k) row[rng() % vocab] += 12.0f - 2.0f * static_cast<float>(k);
    for (const Setting& s : settings) {
      troupe::SamplingParams p;
      p.temperature = s.temperature, p.top_k = s.top_k, p.top_p = s.top_p, p.min_p = s.min_p;
      std::vector<double> us;
      std::vector<float> logits;
      for (int i = 0; i < calls; ++i) {
        logits = row;
        troupe::SamplerRng draw(11, static_cast<uint64_t>(i));
        const auto t0 = std::chrono::steady_clock::now();
        const int32_t token = troupe::sample_token(logits, p, {}, {}, draw);
        us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
        if (token < 0) return 1;
      }
      std::nth_element(us.begin(), us.begin() + calls / 2, us.end());
      std::printf("vocab %zu  %-6s  %-16s  %8.1f us (median of %d)\n", vocab, shape, s.name, us[calls / 2], calls);
    }
  }
}
