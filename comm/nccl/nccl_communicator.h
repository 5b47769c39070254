#pragma once
// The DeviceCommunicator over NCCL: one rank per GPU, in one process (a thread per GPU) or in
// many. The group is formed the NCCL way: one side makes a unique id (make_nccl_id), every rank
// receives its bytes (the head sends them to the ranks in an actor message; the threads of one
// process share them) and joins with connect_nccl. NCCL's headers stay in the .cpp, so a caller
// needs neither them nor CUDA's.
//
// The all-reduce is ncclAllReduce on the caller's stream, in place; NCCL collectives may be
// captured into CUDA graphs (capturable() is true), so the decode graphs hold it. Its sum leaves
// the same bits on every rank (each element is reduced once and then broadcast).
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "comm/device_communicator.h"

namespace troupe {

// NCCL's ncclUniqueId as bytes ([nccl_id_bytes()]): made once per group, by one side.
std::vector<uint8_t> make_nccl_id();
size_t nccl_id_bytes();

// Joins the group `id` names as `rank` of `size`, on CUDA device `device`. Blocks until every rank
// has joined (ranks of one process therefore join from different threads). Throws
// std::runtime_error naming the NCCL call and its error.
std::unique_ptr<DeviceCommunicator> connect_nccl(std::span<const uint8_t> id, int32_t rank, int32_t size, int device);

// A group of this process's GPUs `devices` (rank r on devices[r]) in one call (ncclCommInitAll):
// the one-process tensor-parallel group, a thread per GPU driving it afterwards.
std::vector<std::unique_ptr<DeviceCommunicator>> connect_nccl_local(const std::vector<int>& devices);

// The NCCL library's version, e.g. 22803 for 2.28.3.
int nccl_version();

}  // namespace troupe
