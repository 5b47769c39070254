#include "comm/gloo/gloo_communicator.h"

#include <stdexcept>
#include <string>

#include <gloo/allgather.h>                 // gloo::allgather, AllgatherOptions
#include <gloo/allreduce.h>                 // gloo::allreduce, AllreduceOptions
#include <gloo/barrier.h>                   // gloo::barrier, BarrierOptions
#include <gloo/math.h>                      // gloo::sum<float>
#include <gloo/rendezvous/context.h>        // gloo::rendezvous::Context (connectFullMesh)
#include <gloo/rendezvous/prefix_store.h>   // gloo::rendezvous::PrefixStore
#include <gloo/rendezvous/store.h>          // gloo::rendezvous::Store, what connectFullMesh reads
#include <gloo/transport/tcp/device.h>      // gloo::transport::tcp::CreateDevice
#include <gloo/transport/unbound_buffer.h>  // send/recv

namespace troupe {
namespace {

// Point-to-point messages travel in a slot of their own: Gloo's collectives build theirs as
// (prefix << 56 | tag) with small prefixes, so this one cannot meet theirs.
constexpr uint64_t kSendRecvSlot = uint64_t{0x54} << 56;

// Our store as the Store Gloo's rendezvous reads, so any RendezvousStore (Gloo's, or one over
// actor messages) can connect a group.
class StoreForGloo : public gloo::rendezvous::Store {
 public:
  StoreForGloo(RendezvousStore& store, std::chrono::milliseconds timeout) : store_(store), timeout_(timeout) {}
  void set(const std::string& key, const std::vector<char>& data) override { store_.set(key, data); }
  std::vector<char> get(const std::string& key) override {
    store_.wait({key}, timeout_);
    return store_.get(key);
  }
  void wait(const std::vector<std::string>& keys) override { store_.wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override {
    store_.wait(keys, timeout);
  }

 private:
  RendezvousStore& store_;
  std::chrono::milliseconds timeout_;
};

class GlooCommunicator : public Communicator {
 public:
  explicit GlooCommunicator(std::shared_ptr<gloo::rendezvous::Context> context)
      : context_(std::move(context)), timeout_(context_->getTimeout()) {}

  int32_t rank() const override { return context_->rank; }
  int32_t size() const override { return context_->size; }

  void all_reduce_sum(float* data, int64_t count) override {
    if (count == 0) return;
    gloo::AllreduceOptions opts(context_);
    opts.setOutput(data, static_cast<size_t>(count));  // in place: the output is also the input
    opts.setReduceFunction(
        static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
    // Ring: every element's sum is formed once, on one rank, and then copied to the others, so
    // all ranks hold the same bits (the Communicator contract).
    opts.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
    gloo::allreduce(opts);
  }

  void all_gather(const float* in, float* out, int64_t count) override {
    if (count == 0) return;
    gloo::AllgatherOptions opts(context_);
    // Gloo takes a non-const input pointer but only reads it.
    opts.setInput(const_cast<float*>(in), static_cast<size_t>(count));
    opts.setOutput(out, static_cast<size_t>(count) * static_cast<size_t>(size()));
    gloo::allgather(opts);
  }

  void send(const void* data, size_t bytes, int32_t to) override {
    auto buffer = context_->createUnboundBuffer(const_cast<void*>(data), bytes);
    buffer->send(to, kSendRecvSlot);
    buffer->waitSend(nullptr, timeout_);
  }

  void recv(void* data, size_t bytes, int32_t from) override {
    auto buffer = context_->createUnboundBuffer(data, bytes);
    buffer->recv(from, kSendRecvSlot);
    buffer->waitRecv(nullptr, timeout_);
  }

  void barrier() override {
    gloo::BarrierOptions opts(context_);
    gloo::barrier(opts);
  }

 private:
  std::shared_ptr<gloo::rendezvous::Context> context_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

std::unique_ptr<Communicator> connect_gloo(RendezvousStore& store, int32_t rank, int32_t size,
                                           const GlooOptions& options) {
  if (size < 1 || rank < 0 || rank >= size)
    throw std::invalid_argument("Gloo group: rank " + std::to_string(rank) + " of a group of " + std::to_string(size));
  gloo::transport::tcp::attr attr;
  attr.hostname = options.hostname;
  std::shared_ptr<gloo::transport::Device> device = gloo::transport::tcp::CreateDevice(attr);
  auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
  context->setTimeout(options.timeout);
  StoreForGloo ours(store, options.timeout);
  gloo::rendezvous::PrefixStore prefixed(options.key_prefix, ours);
  try {
    context->connectFullMesh(prefixed, device);
  } catch (const std::exception& e) {
    throw std::runtime_error("Gloo group '" + options.key_prefix + "': rank " + std::to_string(rank) + " of " +
                             std::to_string(size) + " could not connect: " + e.what());
  }
  return std::make_unique<GlooCommunicator>(std::move(context));
}

}  // namespace troupe
