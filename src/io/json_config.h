// Typed, validated reads of a JSON configuration file (config.json and friends). Every error
// names the file and the key: "config.json: 'hidden_size' must be a positive integer".
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

}  // namespace ember::io
