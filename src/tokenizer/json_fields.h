// Typed access to tokenizer.json fields: a wrong type is the file's fault (kInvalidInput) and
// the message names the component and the field.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace ember::tok::json_fields {

using Json = nlohmann::json;

// The "type" of a component object; `what` is "normalizer", "model", ...
std::string type_of(const Json& j, std::string_view what);

bool get_bool(const Json& j, std::string_view what, const char* key, bool fallback);
std::string get_string(const Json& j, std::string_view what, const char* key,
                       const std::string& fallback);
uint64_t get_uint(const Json& j, std::string_view what, const char* key, uint64_t fallback);
// A token id (a post-processor's special token): a non-negative int32, else kInvalidInput
// naming `token`.
int32_t token_id(const Json& id, std::string_view what, std::string_view token);
// The array under `key` (required).
const Json& get_array(const Json& j, std::string_view what, const char* key);

[[noreturn]] void unsupported(std::string_view what, std::string_view type);
[[noreturn]] void malformed(std::string_view what, std::string_view detail);

}  // namespace ember::tok::json_fields
