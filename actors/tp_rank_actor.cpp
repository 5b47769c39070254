#include "actors/tp_rank_actor.h"

#include <stdexcept>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/message_inspect.h"
#include "actors/rendezvous_actor.h"
#include "actors/troupe_error.h"
#include "comm/gloo/gloo_communicator.h"
#include "engine/runtime/tensor_parallel_rank.h"

namespace troupe {

caf::behavior tp_rank_actor(caf::stateful_actor<TpRankState>* self, TpRankSetup setup) {
  self->state.setup = std::move(setup);
  return {
      [=](tp_connect_atom, const caf::actor& board, const std::string& prefix) -> caf::result<caf::actor> {
        const TpRankSetup& s = self->state.setup;
        try {
          ActorRendezvousStore store(self->system(), board, s.timeout);
          self->state.group = connect_gloo(store, s.rank, s.size, {s.hostname, s.timeout, prefix});
          s.model->join_group(self->state.group.get());
        } catch (const std::exception& e) {
          return caf::make_error(troupe_error::node_refused, "stage " + std::to_string(s.stage) + " rank " +
                                                                 std::to_string(s.rank) + " cannot join its group: " + e.what());
        }
        spdlog::info("stage {} tensor-parallel rank {} of {} connected ({})", s.stage, s.rank, s.size, s.hostname);
        return caf::actor_cast<caf::actor>(self);
      },
      [=](tp_rank_op_atom, const TpRankOp& op) {
        const TpRankSetup& s = self->state.setup;
        try {
          apply_tp_rank_op(*s.backend, op);
        } catch (const std::invalid_argument& e) {
          spdlog::debug("stage {} rank {}: op refused, as on rank 0: {}", s.stage, s.rank, e.what());
        } catch (const std::exception& e) {
          spdlog::error("stage {} tensor-parallel rank {} failed: {}", s.stage, s.rank, e.what());
          self->quit(caf::make_error(troupe_error::step_failed, e.what()));
        }
      },
  };
}

}  // namespace troupe
