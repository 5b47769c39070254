// The GEMM tuning cache file: what is written under a key is read back under that key only, a
// missing or foreign file reads as nothing, and the default location follows the environment.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/runtime/gemm_tuning_cache.h"

namespace troupe {
namespace {

namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("troupe-gemm-cache-" + name);
  fs::remove_all(dir);
  return dir;
}

TEST(GemmTuningCache, ReadsBackWhatWasWrittenUnderTheSameKeyOnly) {
  const fs::path dir = scratch("roundtrip");
  const fs::path file = dir / "nested" / "gemm-tuning.txt";
  const std::string lines = "256 6144 4096 0 0 00ff\n2048 4096 14336 0 1 abcd\n";
  EXPECT_EQ(read_gemm_tuning_cache(file, "cublasLt 130100 H100"), "") << "no file yet";
  ASSERT_TRUE(write_gemm_tuning_cache(file, "cublasLt 130100 H100", lines));
  EXPECT_EQ(read_gemm_tuning_cache(file, "cublasLt 130100 H100"), lines);
  EXPECT_EQ(read_gemm_tuning_cache(file, "cublasLt 130200 H100"), "") << "another library version";
  EXPECT_EQ(read_gemm_tuning_cache(file, "cublasLt 130100 H200"), "") << "another GPU";
  ASSERT_TRUE(write_gemm_tuning_cache(file, "cublasLt 130100 H200", "1 2 3 0 0 ff\n"));
  EXPECT_EQ(read_gemm_tuning_cache(file, "cublasLt 130100 H100"), "") << "replaced by the other key's";
  EXPECT_EQ(read_gemm_tuning_cache(file, "cublasLt 130100 H200"), "1 2 3 0 0 ff\n");
  int files = 0;
  for (const auto& e : fs::directory_iterator(file.parent_path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1) << "no temporary file left behind";
  fs::remove_all(dir);
}

TEST(GemmTuningCache, AFileWithoutTheHeaderReadsAsNothing) {
  const fs::path dir = scratch("foreign");
  fs::create_directories(dir);
  std::ofstream(dir / "gemm-tuning.txt") << "cublasLt 130100 H100\n256 6144 4096 0 0 00ff\n";
  EXPECT_EQ(read_gemm_tuning_cache(dir / "gemm-tuning.txt", "cublasLt 130100 H100"), "");
  fs::remove_all(dir);
}

TEST(GemmTuningCache, WritingWhereNoFolderCanBeMadeFailsQuietly) {
  const fs::path dir = scratch("blocked");
  fs::create_directories(dir);
  std::ofstream(dir / "a-file") << "x";
  EXPECT_FALSE(write_gemm_tuning_cache(dir / "a-file" / "gemm-tuning.txt", "k", "lines\n"));
  fs::remove_all(dir);
}

TEST(GemmTuningCache, DefaultLocationFollowsTheEnvironment) {
  const char* saved[] = {std::getenv("TROUPE_CACHE_DIR"), std::getenv("XDG_CACHE_HOME"), std::getenv("HOME")};
  const std::string keep[] = {saved[0] ? saved[0] : "", saved[1] ? saved[1] : "", saved[2] ? saved[2] : ""};
  ::setenv("HOME", "/home/u", 1);
  ::unsetenv("XDG_CACHE_HOME");
  ::unsetenv("TROUPE_CACHE_DIR");
  EXPECT_EQ(default_gemm_tuning_cache(), fs::path("/home/u/.cache/troupe/gemm-tuning.txt"));
  ::setenv("XDG_CACHE_HOME", "/xdg", 1);
  EXPECT_EQ(default_gemm_tuning_cache(), fs::path("/xdg/troupe/gemm-tuning.txt"));
  ::setenv("TROUPE_CACHE_DIR", "/opt/troupe-cache", 1);
  EXPECT_EQ(default_gemm_tuning_cache(), fs::path("/opt/troupe-cache/gemm-tuning.txt"));
  ::unsetenv("TROUPE_CACHE_DIR");
  ::unsetenv("XDG_CACHE_HOME");
  ::unsetenv("HOME");
  EXPECT_TRUE(default_gemm_tuning_cache().empty());
  const char* names[] = {"TROUPE_CACHE_DIR", "XDG_CACHE_HOME", "HOME"};
  for (int i = 0; i < 3; ++i)
    if (saved[i]) ::setenv(names[i], keep[i].c_str(), 1);
}

}  // namespace
}  // namespace troupe
