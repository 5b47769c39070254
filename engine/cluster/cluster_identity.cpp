#include "engine/cluster/cluster_identity.h"

#include <xxhash.h>  // XXH64 streaming state

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <memory>
#include <vector>

#include "engine/load_error.h"

namespace troupe {
namespace {

namespace fs = std::filesystem;

struct Hasher {
  std::unique_ptr<XXH64_state_t, decltype(&XXH64_freeState)> state{XXH64_createState(), &XXH64_freeState};
  Hasher() { XXH64_reset(state.get(), 0); }
  void add(const void* data, size_t n) { XXH64_update(state.get(), data, n); }
  void add(const std::string& s) {
    const uint64_t n = s.size();  // length first: "ab"+"c" and "a"+"bc" hash apart
    add(&n, sizeof n);
    add(s.data(), s.size());
  }
  std::string hex() {
    std::array<char, 17> buf{};
    std::snprintf(buf.data(), buf.size(), "%016llx", static_cast<unsigned long long>(XXH64_digest(state.get())));
    return buf.data();
  }
};

std::string read_bytes(const fs::path& file, size_t at_most) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw LoadError(file, "cannot read it");
  std::string bytes(at_most, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(at_most));
  bytes.resize(static_cast<size_t>(in.gcount()));
  return bytes;
}

// A safetensors file starts with the header's length (8 bytes, little-endian), then the header.
std::string safetensors_header(const fs::path& file) {
  const std::string len_bytes = read_bytes(file, 8);
  if (len_bytes.size() != 8) throw LoadError(file, "shorter than a safetensors header");
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(len_bytes[static_cast<size_t>(i)]);
  if (len > (uint64_t{100} << 20)) throw LoadError(file, "its safetensors header claims " + std::to_string(len) + " bytes");
  const std::string all = read_bytes(file, 8 + static_cast<size_t>(len));
  if (all.size() != 8 + len) throw LoadError(file, "its safetensors header is cut short");
  return all;
}

}  // namespace

ClusterIdentity identify_cluster(const ClusterConfig& config, const ClusterModel& model, uint32_t wire_version) {
  ClusterIdentity id;
  id.wire_version = wire_version;
  Hasher file;
  file.add(read_bytes(config.file, size_t{16} << 20));
  id.config_hash = file.hex();

  Hasher m;
  m.add(read_bytes(model.dir / "config.json", size_t{16} << 20));
  std::vector<fs::path> shards;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(model.dir, ec))
    if (entry.path().extension() == ".safetensors") shards.push_back(entry.path());
  std::sort(shards.begin(), shards.end());  // directory order is the file system's, not the same everywhere
  for (const fs::path& shard : shards) {
    m.add(shard.filename().string());
    m.add(safetensors_header(shard));
  }
  id.model_hash = m.hex();
  return id;
}

std::string identity_difference(const ClusterIdentity& ours, const std::string& our_name, const ClusterIdentity& theirs,
                                const std::string& their_name) {
  auto differs = [&](const std::string& what, const std::string& a, const std::string& b) {
    return what + " differs (" + a + " on " + our_name + ", " + b + " on " + their_name + ")";
  };
  if (ours.wire_version != theirs.wire_version)
    return differs("the wire schema version", std::to_string(ours.wire_version), std::to_string(theirs.wire_version)) +
           ": run the same troupe build on every node";
  if (ours.config_hash != theirs.config_hash)
    return differs("the cluster file", "hash " + ours.config_hash, "hash " + theirs.config_hash) +
           ": give every node the same file";
  if (ours.model_hash != theirs.model_hash)
    return differs("the model (config.json or safetensors headers)", "hash " + ours.model_hash,
                   "hash " + theirs.model_hash) + ": every node needs the same model files";
  return "";
}

}  // namespace troupe
