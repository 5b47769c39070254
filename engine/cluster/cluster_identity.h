#pragma once
// ClusterIdentity: what every node of a cluster must agree on before the head gives it work — the
// cluster file, the model and the wire schema. The head sends its identity when a node joins; the
// node compares it with its own and refuses a mismatch, naming what differs, so two nodes started
// from different files or checkpoints never serve garbage together (a mismatched model would
// produce plausible-looking nonsense, not an error).
//
// The model's identity is its config.json and the header of every *.safetensors file (names,
// dtypes, shapes and offsets of every tensor), not the weights' bytes: hashing 16 GB at every
// start would cost minutes, and two checkpoints that differ only in values with equal headers are
// a fine-tune of the same model, which a changed config.json or file size almost always gives away.
#include <cstdint>
#include <string>

#include "engine/cluster/cluster_config.h"
#include "engine/cluster/cluster_model.h"

namespace troupe {

struct ClusterIdentity {
  std::string config_hash;   // XXH64 of the cluster file's bytes, hex
  std::string model_hash;    // XXH64 of config.json and every safetensors header, hex
  uint32_t wire_version = 0; // the schema the node's binary was built with (wire)
};

// Reads the cluster file and the model's files again (throws LoadError naming a file it cannot read).
ClusterIdentity identify_cluster(const ClusterConfig& config, const ClusterModel& model, uint32_t wire_version);

// Empty when they agree; else one sentence naming the first field that differs, e.g.
// "the cluster file differs (hash 1f.. on head, 9a.. on worker-1)".
std::string identity_difference(const ClusterIdentity& ours, const std::string& our_name,
                                const ClusterIdentity& theirs, const std::string& their_name);

}  // namespace troupe
