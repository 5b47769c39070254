#include "net/json_body.h"

#include <unordered_map>
#include <vector>

namespace troupe::net {

JsonTooDeep::JsonTooDeep()
    : std::runtime_error("nests deeper than " + std::to_string(kMaxJsonDepth) + " levels") {}

namespace {

// A SAX handler that builds the DOM as nlohmann's own builder does, with two bounds it lacks:
// depth (checked as each array or object opens) and time. ordered_json's object is a vector whose
// every insert searches all keys before it, so an object of n keys cost O(n^2): 50,000 keys (540
// KB) took 9 s of an HTTP thread. Here a large object gets a hash index of its keys, making each
// insert O(1). Duplicate keys keep nlohmann's meaning: the first position, the last value.
template <class Json>
class BoundedDomBuilder {
 public:
  using string_t = typename Json::string_t;
  explicit BoundedDomBuilder(Json& root) : root_(root) { open_.reserve(kMaxJsonDepth); }

  bool null() { return put(Json(nullptr)), true; }
  bool boolean(bool v) { return put(Json(v)), true; }
  bool number_integer(typename Json::number_integer_t v) { return put(Json(v)), true; }
  bool number_unsigned(typename Json::number_unsigned_t v) { return put(Json(v)), true; }
  bool number_float(typename Json::number_float_t v, const string_t&) { return put(Json(v)), true; }
  bool string(string_t& v) { return put(Json(std::move(v))), true; }
  bool binary(typename Json::binary_t& v) { return put(Json(std::move(v))), true; }
  bool start_object(std::size_t) { return open(Json::object()), true; }
  bool start_array(std::size_t) { return open(Json::array()), true; }
  bool end_object() { return open_.pop_back(), true; }
  bool end_array() { return open_.pop_back(), true; }
  bool key(string_t& k) {
    Open& o = open_.back();
    auto& object = o.value->template get_ref<typename Json::object_t&>();
    if constexpr (requires { typename Json::object_t::Container; }) {  // ordered_map: a vector
      size_t at = object.size();
      if (o.indexed) {
        if (auto it = o.index.find(k); it != o.index.end()) at = it->second;
      } else {
        for (size_t i = 0; i < object.size(); ++i)
          if ((object.begin() + static_cast<std::ptrdiff_t>(i))->first == k) at = i;
      }
      if (at == object.size()) {
        if (o.indexed) o.index.emplace(k, at);
        object.emplace_back(std::move(k), Json());
        if (!o.indexed && object.size() == kIndexFrom) {
          for (size_t i = 0; i < object.size(); ++i) o.index.emplace((object.begin() + static_cast<std::ptrdiff_t>(i))->first, i);
          o.indexed = true;
        }
      }
      pending_ = &(object.begin() + static_cast<std::ptrdiff_t>(at))->second;
    } else {  // std::map: O(log n) already
      pending_ = &object[std::move(k)];
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) { throw e; }

 private:
  static constexpr size_t kIndexFrom = 16;  // below, a scan of the keys is cheaper than hashing
  struct Open {
    Json* value;
    bool indexed = false;
    std::unordered_map<string_t, size_t> index;  // key -> position, once the object is large
  };

  // Where a value goes: the root, the end of the open array, or the open object's latest key.
  // Pointers into a container stay valid: nothing is added to it while a child of it is open.
  Json* put(Json v) {
    if (open_.empty()) return &(root_ = std::move(v));
    Json& parent = *open_.back().value;
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    *pending_ = std::move(v);
    return pending_;
  }
  void open(Json v) {
    // open_ holds the containers already open: this one would be level open_.size() + 1.
    if (open_.size() >= static_cast<size_t>(kMaxJsonDepth)) throw JsonTooDeep();
    open_.push_back(Open{put(std::move(v)), false, {}});
  }

  Json& root_;
  std::vector<Open> open_;
  Json* pending_ = nullptr;
};

}  // namespace

template <class Json>
Json parse_json_bounded(std::string_view text) {
  Json root;
  BoundedDomBuilder<Json> builder(root);
  Json::sax_parse(text, &builder);  // strict: anything after the value is an error
  return root;
}

template nlohmann::json parse_json_bounded<nlohmann::json>(std::string_view);
template nlohmann::ordered_json parse_json_bounded<nlohmann::ordered_json>(std::string_view);

std::variant<nlohmann::ordered_json, ApiError> parse_json_object(std::string_view body) {
  nlohmann::ordered_json j;
  try {
    j = parse_json_bounded<nlohmann::ordered_json>(body);
  } catch (const JsonTooDeep& e) {
    return ApiError{400, std::string("the body ") + e.what(), ""};
  } catch (const nlohmann::json::exception& e) {  // parse errors and number overflow (1e309)
    // nlohmann quotes the last token read, which for an unterminated string is the rest of the body.
    return ApiError{400, "the body is not valid JSON: " + truncate_for_message(e.what(), 256), ""};
  }
  if (!j.is_object()) return ApiError{400, "the body must be a JSON object", ""};
  return j;
}

std::string truncate_for_message(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;  // not inside a character
  return std::string(text.substr(0, end)) + "...";
}

std::string json_excerpt(const nlohmann::ordered_json& value, size_t max_bytes) {
  if (value.is_string()) return truncate_for_message(value.get_ref<const std::string&>(), max_bytes);
  // dump() walks the whole value, but parse_json_bounded has bounded its depth, and its size is
  // the body's, which the HTTP server bounds.
  return truncate_for_message(dump_json(value), max_bytes);
}

}  // namespace troupe::net
