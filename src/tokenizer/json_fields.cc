#include "tokenizer/json_fields.h"

#include <limits>

#include "core/error.h"

namespace ember::tok::json_fields {

void unsupported(std::string_view what, std::string_view type) {
  fail(ErrorKind::kUnsupported, "tokenizer.json: ", what, " type '", type, "' is not supported");
}

void malformed(std::string_view what, std::string_view detail) {
  fail(ErrorKind::kInvalidInput, "tokenizer.json: ", what, ": ", detail);
}

std::string type_of(const Json& j, std::string_view what) {
  if (!j.is_object()) malformed(what, "expected an object");
  const auto it = j.find("type");
  if (it == j.end() || !it->is_string()) malformed(what, "missing string field 'type'");
  return it->get<std::string>();
}

bool get_bool(const Json& j, std::string_view what, const char* key, bool fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) malformed(what, cat("field '", key, "' must be a boolean"));
  return it->get<bool>();
}

std::string get_string(const Json& j, std::string_view what, const char* key,
                       const std::string& fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_string()) malformed(what, cat("field '", key, "' must be a string"));
  return it->get<std::string>();
}

uint64_t get_uint(const Json& j, std::string_view what, const char* key, uint64_t fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number_unsigned()) {
    malformed(what, cat("field '", key, "' must be a non-negative integer"));
  }
  return it->get<uint64_t>();
}

int32_t token_id(const Json& id, std::string_view what, std::string_view token) {
  if (!id.is_number_unsigned() || id.get<uint64_t>() > std::numeric_limits<int32_t>::max()) {
    malformed(what, cat("the id of special token '", token, "' must be a non-negative int32"));
  }
  return static_cast<int32_t>(id.get<uint64_t>());
}

const Json& get_array(const Json& j, std::string_view what, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_array()) malformed(what, cat("field '", key, "' must be an array"));
  return *it;
}

}  // namespace ember::tok::json_fields
