#include "comm/in_process_communicator.h"

#include <barrier>              // std::barrier: every rank's arrival before anyone reads
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>

namespace troupe {
namespace {

// What the ranks of one group share.
struct Rendezvous {
  explicit Rendezvous(int32_t n)
      : size(n), sync(n), posted(static_cast<size_t>(n)), counts(static_cast<size_t>(n)),
        mailboxes(static_cast<size_t>(n) * static_cast<size_t>(n)) {}

  // One direction of one pair of ranks: messages in the order they were sent.
  struct Mailbox {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<std::vector<std::byte>> messages;
  };

  int32_t size;
  std::barrier<> sync;
  // Rank r's buffer and element count for the collective in progress, [size]. Written by rank r
  // before the first arrive_and_wait, read by all after it, left alone until the second.
  std::vector<const float*> posted;
  std::vector<int64_t> counts;
  std::vector<Mailbox> mailboxes;  // [from * size + to]
};

class InProcessCommunicator : public Communicator {
 public:
  InProcessCommunicator(std::shared_ptr<Rendezvous> group, int32_t rank) : group_(std::move(group)), rank_(rank) {}

  int32_t rank() const override { return rank_; }
  int32_t size() const override { return group_->size; }

  void all_reduce_sum(float* data, int64_t count) override {
    post(data, count, "all_reduce_sum");
    sum_.assign(group_->posted[0], group_->posted[0] + count);  // [count]
    for (int32_t r = 1; r < group_->size; ++r) {
      const float* other = group_->posted[static_cast<size_t>(r)];
      for (int64_t i = 0; i < count; ++i) sum_[static_cast<size_t>(i)] += other[i];
    }
    // Nobody may overwrite its buffer while a slower rank still reads it.
    group_->sync.arrive_and_wait();
    std::memcpy(data, sum_.data(), static_cast<size_t>(count) * sizeof(float));
  }

  void all_gather(const float* in, float* out, int64_t count) override {
    post(in, count, "all_gather");
    for (int32_t r = 0; r < group_->size; ++r)
      std::memcpy(out + r * count, group_->posted[static_cast<size_t>(r)], static_cast<size_t>(count) * sizeof(float));
    group_->sync.arrive_and_wait();
  }

  void send(const void* data, size_t bytes, int32_t to) override {
    Rendezvous::Mailbox& box = mailbox(rank_, to);
    const auto* p = static_cast<const std::byte*>(data);
    {
      std::lock_guard lock(box.mutex);
      box.messages.emplace_back(p, p + bytes);
    }
    box.ready.notify_one();
  }

  void recv(void* data, size_t bytes, int32_t from) override {
    Rendezvous::Mailbox& box = mailbox(from, rank_);
    std::unique_lock lock(box.mutex);
    box.ready.wait(lock, [&] { return !box.messages.empty(); });
    std::vector<std::byte> message = std::move(box.messages.front());
    box.messages.pop_front();
    lock.unlock();
    if (message.size() != bytes)
      throw std::runtime_error("recv on rank " + std::to_string(rank_) + ": rank " + std::to_string(from) + " sent " +
                               std::to_string(message.size()) + " bytes, " + std::to_string(bytes) + " expected");
    std::memcpy(data, message.data(), bytes);
  }

  void barrier() override { group_->sync.arrive_and_wait(); }

 private:
  // Publishes this rank's buffer and waits for every rank's. Every rank sees the same counts, so a
  // mismatch throws on all of them alike (none is left waiting in the next barrier).
  void post(const float* data, int64_t count, const char* op) {
    group_->posted[static_cast<size_t>(rank_)] = data;
    group_->counts[static_cast<size_t>(rank_)] = count;
    group_->sync.arrive_and_wait();
    for (int32_t r = 0; r < group_->size; ++r) {
      if (group_->counts[static_cast<size_t>(r)] != count) {
        group_->sync.arrive_and_wait();  // let every rank read the counts before any posts again
        throw std::runtime_error(std::string(op) + ": rank " + std::to_string(r) + " passed " +
                                 std::to_string(group_->counts[static_cast<size_t>(r)]) + " elements, rank " +
                                 std::to_string(rank_) + " " + std::to_string(count));
      }
    }
  }

  Rendezvous::Mailbox& mailbox(int32_t from, int32_t to) {
    if (to < 0 || to >= group_->size || from < 0 || from >= group_->size)
      throw std::invalid_argument("send/recv between ranks " + std::to_string(from) + " and " + std::to_string(to) +
                                  " of a group of " + std::to_string(group_->size));
    return group_->mailboxes[static_cast<size_t>(from) * static_cast<size_t>(group_->size) + static_cast<size_t>(to)];
  }

  std::shared_ptr<Rendezvous> group_;
  int32_t rank_;
  std::vector<float> sum_;  // [count] of the all-reduce in progress
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> make_in_process_group(int32_t size) {
  if (size < 1) throw std::invalid_argument("a communicator group needs at least one rank, got " + std::to_string(size));
  auto group = std::make_shared<Rendezvous>(size);
  std::vector<std::unique_ptr<Communicator>> out;
  for (int32_t r = 0; r < size; ++r) out.push_back(std::make_unique<InProcessCommunicator>(group, r));
  return out;
}

}  // namespace troupe
