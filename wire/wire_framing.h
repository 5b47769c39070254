#pragma once
// Internal to troupe_wire: one value <-> one Cap'n Proto message in the flat-array framing, and
// the untrusted-input rules decode enforces (wire_codec.h states them). Each codec file supplies
// how its values fill a schema builder and are read back from a reader; this header does the
// rest, so that every message type gets the same limits and error messages.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>
#include <kj/exception.h>

#include "wire/wire_codec.h"

namespace troupe::wire::framing {

template <class T>
kj::ArrayPtr<const T> view(const std::vector<T>& v) {
  return kj::arrayPtr(v.data(), v.size());
}

// Empty vectors stay null pointers, which read back as empty lists.
#define TROUPE_WIRE_SET_LIST(builder, Field, vec)                              \
  do {                                                                         \
    if (!(vec).empty()) (builder).set##Field(::troupe::wire::framing::view(vec)); \
  } while (false)

template <class T>
std::vector<T> list_of(typename capnp::List<T>::Reader list) {
  std::vector<T> out;
  out.reserve(list.size());
  for (auto v : list) out.push_back(v);
  return out;
}

// Builds the message of schema struct S with `fill(S::Builder)` and hands it to `out`.
template <class S, class Fill, class Out>
auto build(const char* type, Fill&& fill, Out&& out) {
  try {
    capnp::MallocMessageBuilder message;
    fill(message.initRoot<S>());
    return out(message);
  } catch (const kj::Exception& e) {
    // Only a vector of 2^29 or more elements gets here (Cap'n Proto's list limit).
    throw std::invalid_argument(std::string("troupe::wire: cannot encode ") + type + ": " +
                                e.getDescription().cStr());
  }
}

template <class S, class Fill>
std::vector<uint8_t> encode_message(const char* type, Fill&& fill) {
  return build<S>(type, fill, [](capnp::MallocMessageBuilder& message) {
    const kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
    const kj::ArrayPtr<const kj::byte> bytes = words.asBytes();
    return std::vector<uint8_t>(bytes.begin(), bytes.end());
  });
}

template <class S, class Fill>
std::string text_message(const char* type, Fill&& fill) {
  return build<S>(type, fill, [](capnp::MallocMessageBuilder& message) {
    const kj::String text = message.getRoot<S>().asReader().toString().flatten();
    return std::string(text.cStr(), text.size());
  });
}

// Every decoded field is read exactly once, so a well-formed message traverses each of its words
// at most once; twice that (plus slack) bounds the amplification a hostile message can get from
// pointers that alias each other or from lists of zero-sized elements.
inline constexpr uint64_t kTraversalFactor = 2;
inline constexpr uint64_t kTraversalSlackWords = 64;
// Our deepest path is StepPlan -> sequences -> ScheduledSequence -> samplingParams.
inline constexpr int kNestingLimit = 16;

[[noreturn]] inline void reject(const char* type, const std::string& why) {
  throw std::invalid_argument(std::string("troupe::wire: cannot decode ") + type + ": " + why);
}

// Reads a message of schema struct S from untrusted bytes and returns `get(S::Reader)`.
template <class S, class Get>
auto decode_message(std::span<const uint8_t> bytes, const char* type, Get&& get) {
  constexpr size_t kWord = sizeof(capnp::word);
  if (bytes.empty()) reject(type, "empty input");
  if (bytes.size() % kWord != 0)
    reject(type, std::to_string(bytes.size()) + " bytes is not a whole number of 8-byte words");
  if (bytes.size() > kMaxMessageBytes)
    reject(type, std::to_string(bytes.size()) + " bytes is over the " + std::to_string(kMaxMessageBytes) +
                     "-byte limit");
  const size_t num_words = bytes.size() / kWord;

  // Cap'n Proto reads words in place; bytes at an address that is not 8-byte aligned are copied.
  kj::Array<capnp::word> aligned;
  kj::ArrayPtr<const capnp::word> words;
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(capnp::word) == 0) {
    words = kj::arrayPtr(reinterpret_cast<const capnp::word*>(bytes.data()), num_words);
  } else {
    aligned = kj::heapArray<capnp::word>(num_words);
    std::memcpy(aligned.begin(), bytes.data(), bytes.size());
    words = kj::ArrayPtr<const capnp::word>(aligned.begin(), aligned.size());
  }

  capnp::ReaderOptions options;
  options.traversalLimitInWords = kTraversalFactor * num_words + kTraversalSlackWords;
  options.nestingLimit = kNestingLimit;
  ptrdiff_t trailing_words = 0;
  try {
    capnp::FlatArrayMessageReader reader(words, options);
    trailing_words = words.end() - reader.getEnd();
    if (trailing_words == 0) return get(reader.getRoot<S>());
  } catch (const kj::Exception& e) {
    reject(type, e.getDescription().cStr());
  } catch (const std::invalid_argument& e) {  // from get(): a value this build cannot represent
    reject(type, e.what());
  }
  reject(type, std::to_string(trailing_words * static_cast<ptrdiff_t>(kWord)) + " trailing bytes after the message");
}

}  // namespace troupe::wire::framing
