#pragma once
// What the GPU sampling tests and the sampling benchmark feed sample_tokens: rows of distinct
// logits shaped like flat, spread, peaked or Gumbel outputs, per-row parameters, and device
// copies. Shared so the benchmark times the same rows the tests check.
// In an unnamed namespace like the tests that include it: each test file keeps its own copy.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include <cuda_runtime_api.h>

#include "kernels/cuda/sampling.h"

namespace {

using troupe::cuda::RowSamplingParams;

template <class T>
struct DeviceArray {
  T* ptr = nullptr;
  explicit DeviceArray(size_t n) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&ptr), std::max<size_t>(n, 1) * sizeof(T)), cudaSuccess);
  }
  explicit DeviceArray(const std::vector<T>& v) : DeviceArray(v.size()) {
    EXPECT_EQ(cudaMemcpy(ptr, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceArray() { cudaFree(ptr); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  std::vector<T> get(size_t n) const {
    std::vector<T> v(n);
    EXPECT_EQ(cudaMemcpy(v.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return v;
  }
};

enum class Shape { kFlat, kSpread, kPeaked, kGumbel };

// Distinct logits of a few shapes: the flat ones make 150k candidates matter at once, the peaked
// ones look more like a trained model's.
std::vector<float> make_row(int64_t vocab, Shape shape, std::mt19937_64& rng) {
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> unit(1e-7f, 1.0f);
  std::vector<float> x(vocab);
  for (auto& v : x) {
    switch (shape) {
      case Shape::kFlat: v = normal(rng); break;
      case Shape::kSpread: v = 3.0f * normal(rng); break;
      case Shape::kPeaked: v = 2.0f * normal(rng); break;
      case Shape::kGumbel: v = -2.0f * std::log(-std::log(unit(rng))); break;
    }
  }
  if (shape == Shape::kPeaked) {
    std::uniform_int_distribution<int64_t> pick(0, vocab - 1);
    std::uniform_real_distribution<float> lift(5.0f, 15.0f);
    for (int i = 0; i < 20; ++i) x[pick(rng)] += lift(rng);
  }
  // Nudge equal values apart: among equal logits the CPU's order is unspecified.
  std::vector<int64_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return x[a] < x[b]; });
  for (int64_t i = 1; i < vocab; ++i)
    if (x[order[i]] <= x[order[i - 1]]) x[order[i]] = std::nextafter(x[order[i - 1]], INFINITY);
  return x;
}

// f(i) for i in [0, n) over every core: the CPU reference sorts 152k-entry rows (~10 ms each).
template <class F>
void parallel_for(int64_t n, F&& f) {
  std::atomic<int64_t> next{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < std::max(1u, std::thread::hardware_concurrency()); ++t)
    pool.emplace_back([&] {
      for (int64_t i; (i = next++) < n;) f(i);
    });
  for (auto& t : pool) t.join();
}

// rows x vocab logits, row r of shape shape_of(r), each row from its own seed.
template <class ShapeOf>
std::vector<float> make_rows(int64_t rows, int64_t vocab, uint64_t seed, ShapeOf shape_of) {
  std::vector<float> all(rows * vocab);
  parallel_for(rows, [&](int64_t r) {
    std::mt19937_64 rng(seed * 1000003 + r);
    const std::vector<float> x = make_row(vocab, shape_of(r), rng);
    std::copy(x.begin(), x.end(), all.begin() + r * vocab);
  });
  return all;
}

RowSamplingParams row_params(float temperature, int32_t top_k = 0, float top_p = 1.0f, float min_p = 0.0f,
                         uint64_t seed = 0, uint64_t output_index = 0) {
  return {temperature, top_p, min_p, 1.0f, 0.0f, 0.0f, top_k, seed, output_index};
}

struct DrawConfig {
  float temperature;
  int32_t top_k;
  float top_p;
  float min_p;
};

}  // namespace
