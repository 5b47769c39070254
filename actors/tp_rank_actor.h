#pragma once
// tp_rank: one rank of a tensor-parallel group in a cluster, on the node that holds its shard.
// It connects the group (Gloo over TCP, meeting the other ranks on the head's rendezvous board)
// and owns that connection; on ranks other than 0 it then runs its share of every call rank 0's
// backend gets (TpRankOp, engine/runtime/tensor_parallel_rank.h), as rank 0 sends them. Rank 0's
// own steps run in its stage executor, through a TensorParallelLeader over the same shard.
//
// Detached: the connect and every op block (each op waits in the model's all-reduces for the
// other ranks). An op that fails on a bad token id is dropped, as rank 0 drops it; any other
// failure (a collective timing out: a rank is gone) ends the actor, and with it, by links, the
// stage executor and the group's other ranks on this node.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include "comm/communicator.h"
#include "engine/model/cpu_model.h"
#include "engine/runtime/model_backend.h"

namespace troupe {

struct TpRankSetup {
  std::shared_ptr<ModelBackend> backend;  // this rank's shard, over `model`
  std::shared_ptr<CpuModel> model;        // joins the group once it is connected
  int32_t stage = 0, rank = 0, size = 1;
  std::string hostname;                   // the address Gloo listens on: this node's
  std::chrono::milliseconds timeout{30'000};  // connecting, and each collective
};

struct TpRankState {
  TpRankSetup setup;
  // Shared with nothing but kept until this actor ends: the model's steps use it.
  std::shared_ptr<Communicator> group;
  static inline const char* name = "tp_rank";
};

// Messages: (tp_connect_atom, rendezvous actor, key prefix) -> this actor, once the group is
// connected (an error naming Gloo's reason otherwise); (tp_rank_op_atom, TpRankOp), no answer.
caf::behavior tp_rank_actor(caf::stateful_actor<TpRankState>* self, TpRankSetup setup);

}  // namespace troupe
