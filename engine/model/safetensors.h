#pragma once
// SafetensorsFile: one *.safetensors file, memory-mapped and checked. The header is validated in
// full at open (dtype known, shape matches byte length, offsets inside the data area and not
// overlapping), so a tensor handed out is always safe to read.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace troupe {

enum class DType { F32, F16, BF16 };

const char* dtype_name(DType d);
size_t dtype_size(DType d);

struct TensorView {
  DType dtype;
  std::vector<int64_t> shape;
  std::span<const std::byte> bytes;
  const std::filesystem::path* file;  // the file it came from, for error messages

  int64_t numel() const;
  // Widens to fp32 (BF16/F16/F32 accepted).
  void to_float(float* dst) const;
  // Elements [first, first + count) of the row-major tensor, widened: a TP rank's rows, or one
  // row's columns, read from the mapped file without the rest. std::out_of_range past the end.
  void to_float(float* dst, int64_t first, int64_t count) const;
};

class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path& path);  // throws LoadError
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) = delete;
  SafetensorsFile(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const TensorView* find(const std::string& name) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, TensorView> tensors_;
};

std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace troupe
