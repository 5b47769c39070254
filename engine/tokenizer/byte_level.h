#pragma once
// The GPT-2 byte <-> unicode table of byte-level BPE. Every byte gets a printable code point (bytes
// that are already printable Latin-1 keep theirs, the other 68 move to U+0100..U+0143), so a vocab of
// strings can cover arbitrary bytes and the merges never see whitespace or control characters.
#include <string>
#include <string_view>

namespace troupe::byte_level {

// Appends the mapped character of every byte of `bytes`.
void append_encoded(std::string_view bytes, std::string& out);
std::string encode(std::string_view bytes);

// Appends the bytes behind a mapped string. Returns false and appends nothing when some character is
// outside the table (an added token such as "<|im_end|>" is all in it; one with other text may not be).
bool append_decoded(std::string_view mapped, std::string& out);

}  // namespace troupe::byte_level
