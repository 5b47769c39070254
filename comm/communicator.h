#pragma once
// Communicator: the collectives a tensor- or pipeline-parallel group needs, over plain host
// buffers. `engine/` calls it (the TP forward pass all-reduces after o_proj and down_proj) without
// knowing what moves the bytes: the one-process group in this folder (tests, and TP ranks as
// threads), Gloo over TCP (comm/gloo), NCCL later. Pure C++: no sockets, no threads, no library.
//
// Contract, for every implementation:
// - Collectives (all_reduce_sum, all_gather, barrier) are called by every rank of the group in
//   the same order with the same counts; a rank that skips one leaves the others waiting (or, in
//   Gloo, timing out with an exception).
// - all_reduce_sum leaves the same values on every rank, bit for bit: the TP ranks' residual
//   streams must not drift apart, or their next layers would compute on different inputs.
// - send/recv between two ranks are matched in the order they were issued. send returns once
//   `data` may be reused; it may wait for the receiver (Gloo does), so the two ends run on
//   different threads or processes.
// - Failures (a peer gone, a timeout) throw std::runtime_error naming the operation.
#include <cstddef>
#include <cstdint>

namespace troupe {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int32_t rank() const = 0;
  virtual int32_t size() const = 0;

  // data: [count] on every rank; afterwards each rank's data is the element-wise sum of all of them.
  virtual void all_reduce_sum(float* data, int64_t count) = 0;
  // in: [count] on every rank; out: [size(), count], rank r's `in` at row r, on every rank.
  virtual void all_gather(const float* in, float* out, int64_t count) = 0;
  // bytes [bytes] to rank `to` / from rank `from`; the receiver's byte count must equal the sender's.
  virtual void send(const void* data, size_t bytes, int32_t to) = 0;
  virtual void recv(void* data, size_t bytes, int32_t from) = 0;
  // Returns once every rank has called it.
  virtual void barrier() = 0;
};

}  // namespace troupe
