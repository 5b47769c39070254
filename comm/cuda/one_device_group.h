#pragma once
// A tensor-parallel group whose ranks all run in this process on one device, for tests only: it
// lets one GPU check the sharded decoder's arithmetic at tp 2 and 4, since NCCL refuses two ranks
// on the same device. Each rank is driven by its own host thread (as CPU TP ranks are) and owns
// its stream; an all-reduce is two host barriers and CUDA events between the ranks' streams, and
// every rank sums the posted buffers itself in rank order 0, 1, ... (fp32 accumulation, one
// rounding), so every rank gets the same bits.
//
// Not capturable (capturable() is false): the host barriers sit between enqueues, which a CUDA
// graph replay cannot repeat, so a decoder over this group runs its decode steps eagerly. A rank
// that throws between collectives leaves the others waiting in the barrier, as in
// comm/in_process_communicator.h: callers check their inputs before a step's first collective.
#include <cstdint>
#include <memory>
#include <vector>

#include "comm/device_communicator.h"

namespace troupe {

// One DeviceCommunicator per rank, rank r at index r, every buffer on `device`; the group lives
// as long as any of them. Each is used by one thread at a time. At most kMaxOneDeviceRanks ranks.
constexpr int32_t kMaxOneDeviceRanks = 8;
std::vector<std::unique_ptr<DeviceCommunicator>> make_one_device_group(int32_t size, int device);

}  // namespace troupe
