// Typed, validated reads of a JSON configuration file (config.json and friends). Every error
// names the file and the key: "config.json: 'hidden_size' must be a positive integer".
//
// Decisions, applied to every getter alike:
// - integers are strict: 12.0 or 1e3 is rejected by get_int ("must be an integer"), since a
//   config written by Python's json module writes ints without a fraction; get_double accepts
//   integers and fractions.
// - booleans are strict: only true/false (not 0/1, not "true").
// - a key whose value is null counts as absent (Hugging Face configs write null for unset).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ember::io {

class JsonConfig {
 public:
  static JsonConfig load(const std::filesystem::path& path);  // kNotFound / kInvalidInput
  static JsonConfig parse(std::string_view text, const std::string& origin);
  static JsonConfig from_json(nlohmann::json json, const std::string& origin);

  bool has(const std::string& key) const;
  int64_t get_int(const std::string& key) const;  // required
  int64_t get_int(const std::string& key, int64_t fallback) const;
  int64_t get_positive_int(const std::string& key) const;  // required, > 0
  int64_t get_positive_int(const std::string& key, int64_t fallback) const;
  double get_double(const std::string& key) const;
  double get_double(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  std::vector<std::string> get_string_list(const std::string& key) const;  // [] if absent
  const nlohmann::json& raw() const { return json_; }
  const std::string& origin() const { return origin_; }

 private:
  nlohmann::json json_;
  std::string origin_;
};

// Building blocks for files whose top level is not an object (modules.json is a list).
std::string read_text_file(const std::filesystem::path& path);  // kNotFound / kInvalidInput
nlohmann::json parse_json(std::string_view text, const std::string& origin);  // kInvalidInput

}  // namespace ember::io
