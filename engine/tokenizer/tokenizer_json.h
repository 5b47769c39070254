#pragma once
// Reads tokenizer.json text in one SAX pass. model.vocab and model.merges (hundreds of thousands of
// entries, nearly all of the file) stream straight into flat vectors; only the small rest becomes a
// JSON tree. Building the full tree costs more than everything else at load time together.
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/tokenizer/bpe_model.h"  // BpeTables

namespace troupe {

struct TokenizerJson {
  nlohmann::json root;  // the whole file except model.vocab and model.merges
  BpeTables bpe;
};

// Throws std::invalid_argument for text that is not JSON, or a vocab / merges of the wrong shape.
TokenizerJson read_tokenizer_json(std::string_view text);

}  // namespace troupe
