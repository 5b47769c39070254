#include "engine/load_error.h"

namespace troupe {

LoadError::LoadError(const std::filesystem::path& file, const std::string& what)
    : std::runtime_error(file.string() + ": " + what), file_(file) {}

}  // namespace troupe
