#pragma once
// A group whose ranks are threads of one process, for tests and for tensor-parallel ranks run as
// threads (one CPU process): the collectives are copies and adds through memory the ranks share,
// no sockets. It is the one home-made collective in the project, kept because it needs no set-up
// and makes a TP forward pass checkable with nothing but a process; the real transports are
// libraries (comm/gloo, NCCL later).
//
// Every rank sums the posted buffers itself in rank order 0, 1, ..., so every rank gets the same
// bits (the Communicator contract) at the price of size() times the adds; that is fine for the
// sizes tests and a CPU decode step move. Ranks wait for each other in std::barrier, with no
// timeout: a rank that throws between collectives leaves the others waiting, so callers check
// their inputs before the first collective of a step (as TP ranks do: they all see one batch).
#include <cstdint>
#include <memory>
#include <vector>

#include "comm/communicator.h"

namespace troupe {

// One Communicator per rank, rank r at index r; the group lives as long as any of them. Each is
// used by one thread at a time.
std::vector<std::unique_ptr<Communicator>> make_in_process_group(int32_t size);

}  // namespace troupe
