#include "engine/tokenizer/byte_level.h"

#include <array>
#include <cstdint>

#include "engine/text/utf8.h"

namespace troupe::byte_level {

namespace {

constexpr char32_t kLastMapped = 0x143;  // 256 + 68 - 1: the highest code point the table uses

struct Table {
  std::array<std::string, 256> encoded;        // byte -> UTF-8 of its code point
  std::array<int16_t, kLastMapped + 1> bytes;  // code point -> byte, -1 when unmapped
};

Table build_table() {
  Table t;
  t.bytes.fill(-1);
  char32_t shifted = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const char32_t cp = printable ? static_cast<char32_t>(b) : shifted++;
    utf8::append(t.encoded[b], cp);
    t.bytes[cp] = static_cast<int16_t>(b);
  }
  return t;
}

const Table& table() {
  static const Table t = build_table();
  return t;
}

}  // namespace

void append_encoded(std::string_view bytes, std::string& out) {
  const Table& t = table();
  for (char c : bytes) out += t.encoded[static_cast<uint8_t>(c)];
}

std::string encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  append_encoded(bytes, out);
  return out;
}

bool append_decoded(std::string_view mapped, std::string& out) {
  const Table& t = table();
  const size_t start = out.size();
  for (size_t pos = 0; pos < mapped.size();) {
    const bool valid = utf8::next(mapped, pos).unit == utf8::Unit::kValid;
    const char32_t cp = valid ? utf8::decode(mapped, pos) : kLastMapped + 1;
    if (cp > kLastMapped || t.bytes[cp] < 0) {
      out.resize(start);
      return false;
    }
    out.push_back(static_cast<char>(t.bytes[cp]));
  }
  return true;
}

}  // namespace troupe::byte_level
