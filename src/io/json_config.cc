#include "io/json_config.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace ember::io {

std::string read_text_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) fail(ErrorKind::kNotFound, path.string(), ": no such file");
  if (std::filesystem::is_directory(status))
    fail(ErrorKind::kInvalidInput, path.string(), ": is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kInvalidInput, path.string(), ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(ErrorKind::kInvalidInput, path.string(), ": read error");
  return text.str();
}

nlohmann::json parse_json(std::string_view text, const std::string& origin) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kInvalidInput, origin, ": not valid JSON: ", e.what());
  }
}

JsonConfig JsonConfig::load(const std::filesystem::path& path) {
  return parse(read_text_file(path), path.string());
}

JsonConfig JsonConfig::parse(std::string_view text, const std::string& origin) {
  return from_json(parse_json(text, origin), origin);
}

JsonConfig JsonConfig::from_json(nlohmann::json json, const std::string& origin) {
  if (!json.is_object())
    fail(ErrorKind::kInvalidInput, origin, ": the top level must be a JSON object");
  JsonConfig config;
  config.json_ = std::move(json);
  config.origin_ = origin;
  return config;
}

bool JsonConfig::has(const std::string& key) const {
  const auto it = json_.find(key);
  return it != json_.end() && !it->is_null();
}

namespace {

// The offending value for an error message: bounded in length, never throwing on bad UTF-8.
std::string shown(const nlohmann::json& v) {
  std::string text = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

const nlohmann::json& required(const nlohmann::json& json, const std::string& origin,
                               const std::string& key) {
  const auto it = json.find(key);
  if (it == json.end() || it->is_null())
    fail(ErrorKind::kInvalidInput, origin, ": missing required key '", key, "'");
  return *it;
}

int64_t as_int(const nlohmann::json& v, const std::string& origin, const std::string& key) {
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      fail(ErrorKind::kInvalidInput, origin, ": '", key, "' is too large");
    return static_cast<int64_t>(v.get<uint64_t>());
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  fail(ErrorKind::kInvalidInput, origin, ": '", key, "' must be an integer, got ", shown(v));
}

int64_t as_positive_int(const nlohmann::json& v, const std::string& origin,
                        const std::string& key) {
  if (!v.is_number_integer() || as_int(v, origin, key) <= 0)
    fail(ErrorKind::kInvalidInput, origin, ": '", key, "' must be a positive integer, got ",
         shown(v));
  return as_int(v, origin, key);
}

double as_double(const nlohmann::json& v, const std::string& origin, const std::string& key) {
  if (!v.is_number()) fail(ErrorKind::kInvalidInput, origin, ": '", key, "' must be a number");
  return v.get<double>();
}

}  // namespace

int64_t JsonConfig::get_int(const std::string& key) const {
  return as_int(required(json_, origin_, key), origin_, key);
}

int64_t JsonConfig::get_int(const std::string& key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}

int64_t JsonConfig::get_positive_int(const std::string& key) const {
  return as_positive_int(required(json_, origin_, key), origin_, key);
}

int64_t JsonConfig::get_positive_int(const std::string& key, int64_t fallback) const {
  return has(key) ? get_positive_int(key) : fallback;
}

double JsonConfig::get_double(const std::string& key) const {
  return as_double(required(json_, origin_, key), origin_, key);
}

double JsonConfig::get_double(const std::string& key, double fallback) const {
  return has(key) ? get_double(key) : fallback;
}

bool JsonConfig::get_bool(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const nlohmann::json& v = json_.at(key);
  if (!v.is_boolean())
    fail(ErrorKind::kInvalidInput, origin_, ": '", key, "' must be true or false, got ", shown(v));
  return v.get<bool>();
}

std::string JsonConfig::get_string(const std::string& key) const {
  const nlohmann::json& v = required(json_, origin_, key);
  if (!v.is_string()) fail(ErrorKind::kInvalidInput, origin_, ": '", key, "' must be a string");
  return v.get<std::string>();
}

std::string JsonConfig::get_string(const std::string& key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

std::vector<std::string> JsonConfig::get_string_list(const std::string& key) const {
  std::vector<std::string> out;
  if (!has(key)) return out;
  const nlohmann::json& v = json_.at(key);
  if (!v.is_array())
    fail(ErrorKind::kInvalidInput, origin_, ": '", key, "' must be a list of strings");
  for (const auto& item : v) {
    if (!item.is_string())
      fail(ErrorKind::kInvalidInput, origin_, ": '", key, "' must be a list of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace ember::io
