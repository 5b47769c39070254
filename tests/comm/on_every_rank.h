#pragma once
// What the GPU collective tests share: run a body on every rank of a group at once, one thread
// each (the ranks' collectives wait for each other), rethrowing the first failure.
#include <cstdint>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

namespace troupe::test {

inline void on_every_rank(int32_t n, const std::function<void(int32_t)>& f) {
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
  for (int32_t r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        f(r);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace troupe::test
