#pragma once
// Decoders of tokenizer.json: ByteLevel, Replace (string pattern), ByteFallback, Fuse, Strip and
// Sequence. Each step rewrites the list of token strings as HF's decode_chain does; the result is
// concatenated and only then repaired to valid UTF-8, so a streaming caller can see the raw bytes.
// (HF repairs inside ByteLevel already; the two differ only for chains that put a step after it.)
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace troupe {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// nullptr for a JSON null (HF then joins tokens with spaces). Throws std::invalid_argument for an
// unsupported type.
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& spec);

}  // namespace troupe
