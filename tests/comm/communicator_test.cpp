// Every Communicator gives what a plain loop gives: all-reduce is the element-wise sum of every
// rank's buffer (the same bits on every rank), all-gather puts rank r's buffer at row r, send/recv
// deliver in order, and nobody leaves a barrier before everyone has reached it. Each
// implementation runs its ranks as threads of this process, for group sizes 1 to 4: the
// one-process group, and Gloo over loopback TCP with Gloo's in-memory store and its file store.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>  // getpid: a store directory of this process's own

#include "comm/gloo/gloo_communicator.h"
#include "comm/gloo/gloo_store.h"
#include "comm/in_process_communicator.h"

namespace troupe {
namespace {

enum class Impl { InProcess, GlooHashStore, GlooFileStore };

std::string impl_name(Impl i) {
  switch (i) {
    case Impl::InProcess: return "InProcess";
    case Impl::GlooHashStore: return "GlooHashStore";
    case Impl::GlooFileStore: return "GlooFileStore";
  }
  return "?";
}

using RankBody = std::function<void(Communicator&)>;

// Runs body on `size` ranks, one thread each, and rethrows the first failure. Gloo ranks connect
// inside their threads: connecting blocks until every rank has joined.
void run_ranks(Impl impl, int32_t size, const RankBody& body) {
  std::vector<std::unique_ptr<Communicator>> in_process;
  std::unique_ptr<RendezvousStore> store;
  std::filesystem::path dir;
  if (impl == Impl::InProcess) in_process = make_in_process_group(size);
  if (impl == Impl::GlooHashStore) store = make_gloo_hash_store();
  if (impl == Impl::GlooFileStore) {
    dir = std::filesystem::temp_directory_path() /
          ("troupe_gloo_store_" + std::to_string(::getpid()) + "_" + std::to_string(size));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  std::vector<std::exception_ptr> errors(static_cast<size_t>(size));
  std::vector<std::thread> threads;
  for (int32_t r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      try {
        std::unique_ptr<Communicator> comm;
        if (impl == Impl::InProcess) {
          comm = std::move(in_process[static_cast<size_t>(r)]);
        } else {
          GlooOptions options;
          options.timeout = std::chrono::seconds(20);
          // File-store ranks each open the directory themselves, as separate processes would.
          std::unique_ptr<RendezvousStore> own = impl == Impl::GlooFileStore ? make_gloo_file_store(dir.string()) : nullptr;
          comm = connect_gloo(own ? *own : *store, r, size, options);
        }
        ASSERT_EQ(comm->rank(), r);
        ASSERT_EQ(comm->size(), size);
        body(*comm);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (!dir.empty()) std::filesystem::remove_all(dir);
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

// Rank r's i-th value: distinct per rank and element, not all representable sums of small ints.
float value(int32_t rank, int64_t i) { return 0.37f * static_cast<float>(rank + 1) - 0.011f * static_cast<float>(i % 97) + 1e-3f * static_cast<float>(i); }

std::string param_name(const ::testing::TestParamInfo<std::tuple<Impl, int32_t>>& info) {
  return impl_name(std::get<0>(info.param)) + "_" + std::to_string(std::get<1>(info.param)) + "ranks";
}

const auto kImpls = ::testing::Values(Impl::InProcess, Impl::GlooHashStore, Impl::GlooFileStore);

class CommunicatorTest : public ::testing::TestWithParam<std::tuple<Impl, int32_t>> {
 protected:
  Impl impl() const { return std::get<0>(GetParam()); }
  int32_t size() const { return std::get<1>(GetParam()); }
};

TEST_P(CommunicatorTest, AllReduceIsThePlainSumAndTheSameOnEveryRank) {
  const int32_t n = size();
  // Sizes around Gloo's ring segments (a decode step's [batch, hidden] is small, a prefill's large).
  for (const int64_t count : {int64_t{1}, int64_t{7}, int64_t{4096}, int64_t{300001}}) {
    std::vector<float> expected(static_cast<size_t>(count), 0.0f);  // [count], summed in rank order
    for (int32_t r = 0; r < n; ++r)
      for (int64_t i = 0; i < count; ++i) expected[static_cast<size_t>(i)] += value(r, i);
    std::vector<std::vector<float>> results(static_cast<size_t>(n));  // [size][count]
    run_ranks(impl(), n, [&](Communicator& c) {
      std::vector<float> data(static_cast<size_t>(count));  // [count]
      for (int64_t i = 0; i < count; ++i) data[static_cast<size_t>(i)] = value(c.rank(), i);
      c.all_reduce_sum(data.data(), count);
      results[static_cast<size_t>(c.rank())] = std::move(data);
    });
    for (int32_t r = 0; r < n; ++r) {
      const std::vector<float>& got = results[static_cast<size_t>(r)];
      ASSERT_EQ(got.size(), expected.size());
      for (int64_t i = 0; i < count; ++i)
        // Gloo's ring adds in another order than rank order: a few ulps apart, never a rank's worth.
        ASSERT_NEAR(got[static_cast<size_t>(i)], expected[static_cast<size_t>(i)],
                    4e-7f * n * std::abs(expected[static_cast<size_t>(i)]) + 1e-6f)
            << "rank " << r << " element " << i << " of " << count;
      EXPECT_EQ(std::memcmp(got.data(), results[0].data(), got.size() * sizeof(float)), 0)
          << "rank " << r << " holds other bits than rank 0";
    }
  }
}

TEST_P(CommunicatorTest, AllGatherPutsEachRanksBufferAtItsRow) {
  const int32_t n = size();
  const int64_t count = 1000;
  std::vector<std::vector<float>> results(static_cast<size_t>(n));  // [size][size * count]
  run_ranks(impl(), n, [&](Communicator& c) {
    std::vector<float> in(static_cast<size_t>(count));           // [count]
    std::vector<float> out(static_cast<size_t>(n * count), -1);  // [size, count]
    for (int64_t i = 0; i < count; ++i) in[static_cast<size_t>(i)] = value(c.rank(), i);
    c.all_gather(in.data(), out.data(), count);
    results[static_cast<size_t>(c.rank())] = std::move(out);
  });
  for (int32_t r = 0; r < n; ++r)
    for (int32_t row = 0; row < n; ++row)
      for (int64_t i = 0; i < count; ++i)
        ASSERT_EQ(results[static_cast<size_t>(r)][static_cast<size_t>(row * count + i)], value(row, i))
            << "rank " << r << " row " << row << " element " << i;
}

// Send/recv need a peer: groups of 2 to 4.
using PointToPointTest = CommunicatorTest;

TEST_P(PointToPointTest, SendRecvAroundARingArriveInOrder) {
  const int32_t n = size();
  std::vector<std::vector<int64_t>> received(static_cast<size_t>(n));  // [size][3]
  run_ranks(impl(), n, [&](Communicator& c) {
    const int32_t next = (c.rank() + 1) % n, prev = (c.rank() + n - 1) % n;
    // Even ranks send first and odd ones receive first, so a send that waits for its receiver
    // (Gloo's do) never waits on a rank that is itself sending; with an odd n the last rank (even)
    // and rank 0 both send first, which still resolves because rank 1 receives first.
    auto send_all = [&] {
      for (int64_t k = 0; k < 3; ++k) {
        const int64_t msg = c.rank() * 100 + k;
        c.send(&msg, sizeof msg, next);
      }
    };
    auto recv_all = [&] {
      for (int64_t k = 0; k < 3; ++k) {
        int64_t msg = -1;
        c.recv(&msg, sizeof msg, prev);
        received[static_cast<size_t>(c.rank())].push_back(msg);
      }
    };
    if (c.rank() % 2 == 0) {
      send_all();
      recv_all();
    } else {
      recv_all();
      send_all();
    }
  });
  for (int32_t r = 0; r < n; ++r) {
    const int32_t prev = (r + n - 1) % n;
    EXPECT_EQ(received[static_cast<size_t>(r)], (std::vector<int64_t>{prev * 100, prev * 100 + 1, prev * 100 + 2}))
        << "rank " << r;
  }
}

TEST_P(CommunicatorTest, NoRankLeavesABarrierBeforeEveryRankReachedIt) {
  const int32_t n = size();
  std::atomic<int32_t> arrived{0};
  std::vector<int32_t> seen(static_cast<size_t>(n), -1);  // [size]: arrivals each rank saw after the barrier
  run_ranks(impl(), n, [&](Communicator& c) {
    // The last rank dawdles: without a real barrier the others would leave before it arrives.
    if (c.rank() == n - 1) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    arrived.fetch_add(1);
    c.barrier();
    seen[static_cast<size_t>(c.rank())] = arrived.load();
  });
  for (int32_t r = 0; r < n; ++r) EXPECT_EQ(seen[static_cast<size_t>(r)], n) << "rank " << r;
}

INSTANTIATE_TEST_SUITE_P(
    AllImplementations, CommunicatorTest,
    ::testing::Combine(kImpls, ::testing::Values(1, 2, 3, 4)),
    param_name);

INSTANTIATE_TEST_SUITE_P(
    AllImplementations, PointToPointTest,
    ::testing::Combine(kImpls, ::testing::Values(2, 3, 4)),
    param_name);

TEST(InProcessCommunicator, MismatchedCountsThrowOnEveryRank) {
  std::atomic<int32_t> throws{0};
  auto group = make_in_process_group(2);
  std::vector<std::thread> threads;
  for (int32_t r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      std::vector<float> data(static_cast<size_t>(4 + r));  // [4 + rank]: rank 1 passes one more
      try {
        group[static_cast<size_t>(r)]->all_reduce_sum(data.data(), 4 + r);
      } catch (const std::runtime_error&) {
        throws.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(throws.load(), 2) << "a rank that did not throw would wait in the next collective forever";
}

TEST(GlooCommunicator, ARankWhosePeersNeverComeTimesOutNamingItsGroup) {
  auto store = make_gloo_hash_store();
  GlooOptions options;
  options.timeout = std::chrono::milliseconds(500);
  options.key_prefix = "lonely";
  try {
    connect_gloo(*store, 0, 2, options);
    FAIL() << "connected to a rank that never joined";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("Gloo group 'lonely': rank 0 of 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace troupe
