#include "engine/model/safetensors.h"

#include <fcntl.h>     // open
#include <sys/mman.h>  // mmap, munmap
#include <sys/stat.h>  // fstat
#include <unistd.h>    // close

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

#include "engine/load_error.h"

namespace troupe {
namespace {

bool parse_dtype(const std::string& s, DType& out) {
  if (s == "F32") out = DType::F32;
  else if (s == "F16") out = DType::F16;
  else if (s == "BF16") out = DType::BF16;
  else return false;
  return true;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalize
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) { mant <<= 1; --exp; }
      bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
  }
  return "?";
}

size_t dtype_size(DType d) { return d == DType::F32 ? 4 : 2; }

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void TensorView::to_float(float* dst) const { to_float(dst, 0, numel()); }

void TensorView::to_float(float* dst, int64_t first, int64_t count) const {
  if (first < 0 || count < 0 || first + count > numel())
    throw std::out_of_range("elements [" + std::to_string(first) + ", " + std::to_string(first + count) +
                            ") of a tensor of " + std::to_string(numel()));
  const int64_t n = count;
  const std::byte* src = bytes.data() + static_cast<size_t>(first) * dtype_size(dtype);
  switch (dtype) {
    case DType::F32:
      std::memcpy(dst, src, n * 4);
      break;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        const uint32_t bits = uint32_t{h} << 16;
        std::memcpy(dst + i, &bits, 4);
      }
      break;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = half_to_float(h);
      }
      break;
  }
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& o) noexcept
    : path_(std::move(o.path_)),
      map_(std::exchange(o.map_, nullptr)),
      map_size_(std::exchange(o.map_size_, 0)),
      tensors_(std::move(o.tensors_)) {
  for (auto& [_, t] : tensors_) t.file = &path_;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) munmap(map_, map_size_);
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  SafetensorsFile f;
  f.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw LoadError(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    throw LoadError(path, "cannot stat");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw LoadError(path, "truncated: " + std::to_string(size) + " bytes, not even a header length");
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw LoadError(path, "mmap failed");
  f.map_ = map;
  f.map_size_ = size;

  const auto* base = static_cast<const std::byte*>(map);
  uint64_t header_len = 0;
  std::memcpy(&header_len, base, 8);  // little-endian on every platform we build for
  if (header_len > size - 8)
    throw LoadError(path, "truncated: header says " + std::to_string(header_len) +
                              " bytes but the file has " + std::to_string(size - 8) + " after it");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(reinterpret_cast<const char*>(base + 8),
                                   reinterpret_cast<const char*>(base + 8 + header_len));
  } catch (const nlohmann::json::parse_error& e) {
    throw LoadError(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) throw LoadError(path, "header is not a JSON object");
  const std::byte* data = base + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    auto bad = [&](const std::string& what) { throw LoadError(path, "tensor '" + name + "': " + what); };
    if (!info.is_object()) bad("entry is not an object");
    auto dt = info.find("dtype");
    auto sh = info.find("shape");
    auto off = info.find("data_offsets");
    if (dt == info.end() || !dt->is_string()) bad("missing 'dtype'");
    if (sh == info.end() || !sh->is_array()) bad("missing 'shape'");
    if (off == info.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      bad("'data_offsets' must be two non-negative integers");
    TensorView t;
    if (!parse_dtype(dt->get<std::string>(), t.dtype))
      bad("unsupported dtype '" + dt->get<std::string>() + "' (supported: F32, F16, BF16)");
    uint64_t numel = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) bad("shape entries must be non-negative integers");
      t.shape.push_back(d.get<int64_t>());
      numel *= d.get<uint64_t>();
    }
    const uint64_t begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
    if (end < begin || end > data_size)
      bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
          "] lie outside the data area of " + std::to_string(data_size) + " bytes (truncated file?)");
    if (end - begin != numel * dtype_size(t.dtype))
      bad("shape " + shape_string(t.shape) + " of " + dtype_name(t.dtype) + " needs " +
          std::to_string(numel * dtype_size(t.dtype)) + " bytes but data_offsets span " +
          std::to_string(end - begin));
    t.bytes = std::span<const std::byte>(data + begin, end - begin);
    t.file = &f.path_;
    ranges.emplace_back(begin, end);
    f.tensors_.emplace(name, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      throw LoadError(path, "tensors overlap in the data area (header offsets are inconsistent)");
  return f;
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

}  // namespace troupe
