#pragma once
// The version `troupe --version` and `GET /version` report (vLLM's spelling of both). One literal,
// not a CMake definition, so that a bump recompiles only the two files that read it.
namespace troupe {
inline constexpr char kTroupeVersion[] = "0.1.0";
}  // namespace troupe
