#include "engine/runtime/gemm_tuning_cache.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>
#include <unistd.h>

namespace troupe {
namespace {

const std::string kHeader = "troupe gemm tuning: ";

}  // namespace

std::filesystem::path default_gemm_tuning_cache() {
  std::filesystem::path dir;
  if (const char* d = std::getenv("TROUPE_CACHE_DIR"); d && *d) {
    dir = d;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    dir = std::filesystem::path(x) / "troupe";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    dir = std::filesystem::path(h) / ".cache" / "troupe";
  } else {
    return {};
  }
  return dir / "gemm-tuning.txt";
}

std::string read_gemm_tuning_cache(const std::filesystem::path& file, const std::string& key) {
  std::ifstream in(file);
  std::string header;
  if (!in || !std::getline(in, header) || header != kHeader + key) return {};
  std::ostringstream lines;
  lines << in.rdbuf();
  return lines.str();
}

bool write_gemm_tuning_cache(const std::filesystem::path& file, const std::string& key, const std::string& lines) {
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) return false;
  std::filesystem::path tmp = file;
  tmp += ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << kHeader << key << '\n' << lines;
    if (!out.flush()) {
      std::filesystem::remove(tmp, ec);
      return false;
    }
  }
  std::filesystem::rename(tmp, file, ec);
  if (ec) std::filesystem::remove(tmp, ec);
  return !ec;
}

}  // namespace troupe
