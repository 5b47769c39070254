// Tensor parallel on GPUs, Llama-3-8B shapes with dummy bf16 weights: the decode step (graphs, the
// NCCL all-reduces inside) at batch 1..256 with 256-token contexts, one thread per GPU, and NCCL's
// all-reduce alone at decode sizes (batch x 4096 bf16), eagerly and replayed from a graph, against
// what issue 14 cites (NCCL ~19-25 us on H100 NVLink; one-shot kernels ~4-9 us). With tp > 1 the
// one-shot all-reduce over peer memory (comm/cuda) is timed beside NCCL, and the decode steps run
// again with it below ONE_SHOT_MAX_BYTES (default 1 MiB; NCCL above).
//
//   tp_decoder_bench [tp=1] [layers=32]
//
// tp 1 also times the same decoder without a communicator, so the cost of NCCL's calls at world
// size 1 shows. Why threads rather than a process per GPU: the ranks share the NCCL id in memory
// and need no launcher, as the CPU ranks of --tensor-parallel do; NCCL takes one thread per GPU in
// one process. Across machines (the cluster path) each rank is its own process and the id travels
// in an actor message; the arithmetic is the same.
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "bench/gpu/bench_step.h"
#include "comm/cuda/one_shot_all_reduce.h"
#include "comm/nccl/nccl_communicator.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/decoder.h"

using troupe::bench::llama3_8b;
using troupe::bench::median;
using troupe::bench::Step;
using troupe::cuda::Decoder;

namespace {

constexpr int kBatches[] = {1, 8, 64, 128, 256};

// Decode step times (ms, median) at each of kBatches on this rank's decoder; every rank steps
// together (sync before each step, so rank 0's clock measures the group).
std::vector<double> time_decode(Decoder& d, std::barrier<>* sync, int reps) {
  const int W = d.block_table_width();
  std::vector<double> out;
  for (int S : kBatches) {
    const Step st(S, 1, 256, W);
    std::vector<double> t;
    for (int rep = 0; rep < reps; ++rep) {
      if (sync) sync->arrive_and_wait();
      const auto t0 = std::chrono::steady_clock::now();
      d.forward(st.view());
      TROUPE_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(d.stream())));
      if (rep >= 3) t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    out.push_back(median(t));
  }
  return out;
}

std::unique_ptr<Decoder> make_decoder(int64_t layers, int32_t tp, int32_t rank, troupe::DeviceCommunicator* comm) {
  auto d = std::make_unique<Decoder>(llama3_8b(layers, tp, rank), rank, comm);
  d->fill_dummy(1);
  d->allocate({.max_num_tokens = 2048, .max_num_seqs = 256, .max_context_len = 4096, .block_size = 16}, 8192, 0.9);
  d->capture_decode_graphs();
  return d;
}

// One all-reduce of `count` bf16 values: µs per call, eager and replayed from a graph of 64 calls.
std::pair<double, double> time_all_reduce(troupe::DeviceCommunicator& comm, int64_t count, std::barrier<>& sync) {
  __nv_bfloat16* buf = nullptr;
  TROUPE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&buf), count * 2));
  TROUPE_CUDA_CHECK(cudaMemset(buf, 0, count * 2));
  cudaStream_t s = nullptr;
  TROUPE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  constexpr int kCalls = 64;
  auto run = [&](const auto& body) {
    std::vector<double> t;
    for (int rep = 0; rep < 12; ++rep) {
      sync.arrive_and_wait();
      const auto t0 = std::chrono::steady_clock::now();
      body();
      TROUPE_CUDA_CHECK(cudaStreamSynchronize(s));
      if (rep >= 2) t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    return median(t) / kCalls;
  };
  const double eager = run([&] {
    for (int i = 0; i < kCalls; ++i) comm.all_reduce_sum(buf, count, troupe::DeviceDType::BF16, s);
  });
  cudaGraph_t graph = nullptr;
  TROUPE_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < kCalls; ++i) comm.all_reduce_sum(buf, count, troupe::DeviceDType::BF16, s);
  TROUPE_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
  cudaGraphExec_t exec = nullptr;
  TROUPE_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  const double graphed = run([&] { TROUPE_CUDA_CHECK(cudaGraphLaunch(exec, s)); });
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
  cudaFree(buf);
  return {eager, graphed};
}

}  // namespace

int main(int argc, char** argv) {
  const int32_t tp = argc > 1 ? std::atoi(argv[1]) : 1;
  const int64_t layers = argc > 2 ? std::atoi(argv[2]) : 32;
  try {
    const int gpus = troupe::cuda::device_count();
    if (tp < 1 || 8 % tp != 0 || tp > gpus) {
      std::fprintf(stderr, "tp %d: needs a divisor of 8 KV heads and that many GPUs (found %d)\n", tp, gpus);
      return 2;
    }
    std::printf("NCCL %d, tp %d over %d GPU(s), %lld layers\n", troupe::nccl_version(), tp, gpus,
                static_cast<long long>(layers));
    if (tp == 1) {
      const auto ms = time_decode(*make_decoder(layers, 1, 0, nullptr), nullptr, 30);
      std::printf("%-34s", "tp 1, no communicator: decode ms");
      for (size_t i = 0; i < ms.size(); ++i) std::printf("  b%d %.3f", kBatches[i], ms[i]);
      std::printf("\n");
    }
    const auto id = troupe::make_nccl_id(), id2 = troupe::make_nccl_id();  // id2: the fallback of the one-shot run
    std::barrier<> sync(tp);
    std::vector<std::unique_ptr<troupe::OneShotAllReduce>> one_shots;  // made by rank 0, taken by each
    std::vector<int> devices(static_cast<size_t>(tp));
    for (int32_t r = 0; r < tp; ++r) devices[static_cast<size_t>(r)] = r;
    std::vector<std::thread> ranks;
    std::vector<std::exception_ptr> errors(static_cast<size_t>(tp));
    for (int32_t r = 0; r < tp; ++r)
      ranks.emplace_back([&, r] {
        try {
          const auto comm = troupe::connect_nccl(id, r, tp, r);
          {
            const auto d = make_decoder(layers, tp, r, comm.get());
            const auto ms = time_decode(*d, &sync, 30);
            if (r == 0) {
              std::printf("tp %d over NCCL, graphs: decode ms   ", tp);
              for (size_t i = 0; i < ms.size(); ++i) std::printf("  b%d %.3f", kBatches[i], ms[i]);
              std::printf("   (%.2f GB of weights a rank)\n", static_cast<double>(d->weight_bytes()) / 1e9);
            }
          }
          for (int batch : kBatches) {
            const auto [eager, graphed] = time_all_reduce(*comm, int64_t{batch} * 4096, sync);
            if (r == 0)
              std::printf("NCCL all-reduce of %3d x 4096 bf16 (%7d bytes): %7.1f us eager, %7.1f us in a graph\n",
                          batch, batch * 4096 * 2, eager, graphed);
          }
          if (tp > 1) {
            // The one-shot kernel: every GPU maps its peers' regions (peer access over NVLink).
            if (r == 0) one_shots = troupe::make_one_shot_group_local(devices, size_t{256} * 4096 * 2);
            sync.arrive_and_wait();
            auto one_shot = std::move(one_shots[static_cast<size_t>(r)]);
            struct OneShotOnly : troupe::DeviceCommunicator {
              troupe::OneShotAllReduce* o;
              int32_t rank_, size_;
              int32_t rank() const override { return rank_; }
              int32_t size() const override { return size_; }
              bool capturable() const override { return true; }
              void all_reduce_sum(void* d, int64_t n, troupe::DeviceDType t, void* s) override { o->all_reduce_sum(d, n, t, s); }
            } alone;
            alone.o = one_shot.get();
            alone.rank_ = r;
            alone.size_ = tp;
            for (int batch : kBatches) {
              const auto [eager, graphed] = time_all_reduce(alone, int64_t{batch} * 4096, sync);
              if (r == 0)
                std::printf("one-shot all-reduce of %3d x 4096 bf16 (%7d bytes): %7.1f us eager, %7.1f us in a graph\n",
                            batch, batch * 4096 * 2, eager, graphed);
            }
            const char* env = std::getenv("ONE_SHOT_MAX_BYTES");
            const size_t threshold = env ? std::strtoull(env, nullptr, 10) : size_t{1} << 20;
            const auto mixed = troupe::make_one_shot_communicator(std::move(one_shot),
                                                                  troupe::connect_nccl(id2, r, tp, r), threshold);
            const auto d = make_decoder(layers, tp, r, mixed.get());
            const auto ms = time_decode(*d, &sync, 30);
            if (r == 0) {
              std::printf("tp %d, one-shot <= %zu bytes: decode ms", tp, threshold);
              for (size_t i = 0; i < ms.size(); ++i) std::printf("  b%d %.3f", kBatches[i], ms[i]);
              std::printf("\n");
            }
          }
        } catch (...) {
          errors[static_cast<size_t>(r)] = std::current_exception();
        }
      });
    for (auto& t : ranks) t.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
