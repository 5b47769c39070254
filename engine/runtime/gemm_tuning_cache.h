#pragma once
// GemmTuningCache: the GPU backend's timed cuBLASLt choices kept in a small text file between
// starts, so only the first start on a machine spends seconds timing GEMM algorithms. The file is
// valid for one key (cuBLASLt version and GPU model); another key's file is ignored and replaced.
// Plain file handling: what the lines mean is Decoder's business (kernels/cuda/gemm.h).
#include <filesystem>
#include <string>

namespace troupe {

// $TROUPE_CACHE_DIR, else $XDG_CACHE_HOME/troupe, else $HOME/.cache/troupe, + gemm-tuning.txt;
// empty when none of the three is set.
std::filesystem::path default_gemm_tuning_cache();

// The lines stored under `key`; empty when the file is missing, unreadable or for another key.
std::string read_gemm_tuning_cache(const std::filesystem::path& file, const std::string& key);

// Replaces the file (made beside it, then renamed: a concurrent reader sees the old or the new
// one whole), creating its folder. Returns false, having written nothing, when it cannot.
bool write_gemm_tuning_cache(const std::filesystem::path& file, const std::string& key, const std::string& lines);

}  // namespace troupe
