// A cluster launched as the `troupe node` processes launch it, with each node in its own actor
// system reached over loopback: three node actors holding one pipeline stage each of the tiny
// Llama fixture, the head joining them (join_cluster), the stages started node to node and the
// cluster supervisor scheduling over them. Every reference prompt's greedy tokens are those of
// transformers (expected.json), and the head's health table shows every node up with its stage's
// steps after a heartbeat.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "../engine/model/fixture_model.h"
#include "actors/actor_system_config.h"
#include "actors/batch_client.h"
#include "actors/cluster_launch.h"
#include "actors/cluster_supervisor_actor.h"
#include "actors/node_actor.h"
#include "engine/cluster/cluster_model.h"
#include "wire/wire_codec.h"

namespace troupe {
namespace {

// A port free now (the kernel picks it); the node publishes on it right after.
uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

TEST(ClusterLaunch, ThreeNodesInThreeActorSystemsGiveTheTransformersGreedyTokens) {
  const auto dir = test::fixture_model_dir("tiny-llama3");
  const std::vector<uint16_t> ports{free_port(), free_port(), free_port()};
  const std::vector<std::string> names{"head", "worker-1", "worker-2"};
  const auto file = std::filesystem::temp_directory_path() / ("cluster_launch_test_" + std::to_string(getpid()) + ".toml");
  {
    std::ofstream out(file);
    out << "[model]\npath = \"" << dir.string() << "\"\npipeline_parallel = 3\n"
        << "[scheduler]\nmax_num_seqs = 4\nmax_num_batched_tokens = 32\nnum_kv_blocks = 64\n"
        << "[cluster]\njoin_timeout_s = 20\n";
    for (size_t i = 0; i < 3; ++i)
      out << "[[node]]\nname = \"" << names[i] << "\"\naddress = \"127.0.0.1:" << ports[i] << "\"\nroles = "
          << (i == 0 ? R"(["gateway", "scheduler", "kv_manager", "executor"])" : R"(["executor"])") << "\n";
  }
  const ClusterConfig config = load_cluster_config(file);
  const ClusterModel model = load_cluster_model(config, dir);
  const Placement placement = place(config, model.config);
  const ClusterIdentity identity = identify_cluster(config, model, wire::wire_version());
  std::filesystem::remove(file);
  const auto stages = test::fixture_stage_backends("tiny-llama3", 3);

  // Leaked on purpose: CAF 0.17's actor_system destructor can wait forever for a detached actor
  // (the stages) that has ended (actor-framework#1196); the test process ends without it.
  std::vector<caf::actor_system*> systems;
  std::vector<caf::actor> nodes;
  for (size_t i = 0; i < 3; ++i) {
    auto* cfg = new TroupeActorSystemConfig;
    systems.push_back(new caf::actor_system{*cfg});
    NodeSetup setup{names[i], "127.0.0.1", ports[i], identity, {{static_cast<int32_t>(i), stages[i]}},
                    std::chrono::seconds(20), [](const std::string& why) { ADD_FAILURE() << why; }};
    nodes.push_back(systems[i]->spawn(node_actor, std::move(setup)));
    auto bound = systems[i]->middleman().publish(nodes[i], ports[i], "127.0.0.1", true);
    ASSERT_TRUE(bound) << systems[i]->render(bound.error());
  }
  caf::actor_system& head = *systems[0];
  auto health = std::make_shared<ClusterHealth>(initial_health(config));
  const JoinedCluster joined = join_cluster(head, config, placement, identity, "head", nodes[0], *health);
  ASSERT_EQ(joined.stages.size(), 3u);
  EXPECT_TRUE(health->all_up());
  // Stages 1 and 2 are proxies of actors in the other systems; stage 0 lives here.
  EXPECT_EQ(joined.stages[0].node(), head.node());
  EXPECT_NE(joined.stages[1].node(), head.node());
  EXPECT_NE(joined.stages[2].node(), joined.stages[1].node());

  std::vector<ClusterMember> members, stage_members;
  for (size_t i = 0; i < 3; ++i) {
    members.push_back({names[i], joined.nodes[i]});
    stage_members.push_back({names[i], joined.stages[i]});
  }
  const SchedulerConfig sc{.max_num_seqs = 4, .max_num_batched_tokens = 32, .block_size = 16, .num_blocks = 64};
  EngineActors engine;
  engine.supervisor = head.spawn(cluster_supervisor_actor, members, stage_members, sc, int32_t{3}, health,
                                 std::shared_ptr<ServerMetrics>{});
  engine = current_engine(head, engine);

  const auto reference = test::load_reference("tiny-llama3");
  std::vector<GenerationRequest> requests;
  for (size_t i = 0; i < reference.size(); ++i) {
    GenerationRequest r;
    r.id = static_cast<SeqId>(i);
    r.prompt_token_ids = reference[i].ids;
    r.sampling_params.temperature = 0.0f;
    r.sampling_params.max_tokens = static_cast<int32_t>(reference[i].greedy.size());
    r.sampling_params.ignore_eos = true;
    requests.push_back(r);
  }
  std::map<SeqId, std::vector<int32_t>> out;
  run_batch(head, engine, requests, [&](const FinishedSequence& f) { out[f.id] = f.output_token_ids; },
            [](SeqId id, const std::string& why) { ADD_FAILURE() << "request " << id << " rejected: " << why; });
  for (size_t i = 0; i < reference.size(); ++i) EXPECT_EQ(out.at(static_cast<SeqId>(i)), reference[i].greedy) << "prompt " << i;

  // The first heartbeat came at once; the next (5 s) carries the steps just run.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(12);
  auto steps_of_every_stage = [&] {
    int with_steps = 0;
    for (const NodeHealth& n : health->nodes())
      for (const StageTimes& t : n.stages) with_steps += t.steps > 0;
    return with_steps;
  };
  while (steps_of_every_stage() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(steps_of_every_stage(), 3);

  caf::anon_send_exit(engine.supervisor, caf::exit_reason::user_shutdown);
  for (const caf::actor& n : nodes) caf::anon_send_exit(n, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace troupe
