#include "serve/model_sources.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "core/error.h"

namespace ember::serve {
namespace {

namespace fs = std::filesystem;

// A --model value that names a path rather than a cache name.
bool looks_like_path(const std::string& s) {
  return s.find('/') != std::string::npos || s.rfind('.', 0) == 0 || s.rfind('~', 0) == 0;
}

}  // namespace

std::string public_model_name(const std::string& model) {
  std::error_code ec;
  if (!fs::exists(model, ec)) return model;  // a name in the model cache, as given
  fs::path p = fs::absolute(model, ec).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "dir/"
  const std::string name = p.filename().string();
  return name.empty() ? "model" : name;
}

std::vector<ModelSource> model_sources(const ModelFlags& flags, const ember::LoadOptions& options) {
  std::vector<ModelSource> out;
  const auto add = [&](std::string name, std::string path, const char* flag) {
    EMBER_CHECK(!name.empty(), ErrorKind::kInvalidInput, flag, " ", path,
                ": the model's name is empty");
    for (const auto& s : out)
      EMBER_CHECK(s.name != name, ErrorKind::kInvalidInput, flag, ": two models are named '", name,
                  "' (", s.path, " and ", path, "); name one with --model ALIAS=PATH");
    out.push_back({std::move(name), std::move(path), options, false});
  };
  std::error_code ec;
  for (size_t i = 0; i < flags.models.size(); ++i) {
    const std::string& m = flags.models[i];
    const auto eq = m.find('=');
    if (eq != std::string::npos && eq > 0 && !fs::exists(m, ec)) {
      const std::string alias = m.substr(0, eq), path = m.substr(eq + 1);
      EMBER_CHECK(!path.empty(), ErrorKind::kInvalidInput, "--model ", m, ": no path after '='");
      EMBER_CHECK(!looks_like_path(path) || fs::is_directory(path, ec), ErrorKind::kNotFound,
                  "--model ", m, ": ", path, " is not a directory");
      add(alias, path, "--model");
      continue;
    }
    EMBER_CHECK(i == 0 || !looks_like_path(m) || fs::is_directory(m, ec), ErrorKind::kNotFound,
                "--model ", m, ": not a directory");
    std::string name =
        i == 0 && !flags.served_model_name.empty() ? flags.served_model_name : public_model_name(m);
    add(std::move(name), m, "--model");
  }
  if (!flags.repository.empty()) {
    EMBER_CHECK(fs::is_directory(flags.repository, ec), ErrorKind::kNotFound, "--model-repository ",
                flags.repository, ": not a directory");
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(flags.repository, ec))
      if (e.is_directory(ec)) dirs.push_back(e.path());
    EMBER_CHECK(!ec, ErrorKind::kNotFound, "--model-repository ", flags.repository, ": ",
                ec.message());
    std::sort(dirs.begin(), dirs.end());
    EMBER_CHECK(!dirs.empty(), ErrorKind::kNotFound, "--model-repository ", flags.repository,
                " has no model directory in it");
    for (const auto& d : dirs) add(d.filename().string(), d.string(), "--model-repository");
  }
  EMBER_CHECK(!out.empty(), ErrorKind::kInvalidInput,
              "no model to serve: give --model or --model-repository");
  for (const auto& pin : flags.pins) {
    const auto it =
        std::find_if(out.begin(), out.end(), [&](const auto& s) { return s.name == pin; });
    if (it == out.end()) {
      std::string names;
      for (const auto& s : out) names += (names.empty() ? "" : ", ") + s.name;
      throw Error(ErrorKind::kInvalidInput,
                  cat("--pin ", pin, ": no model is named '", pin, "'; the models are ", names));
    }
    it->pinned = true;
  }
  return out;
}

}  // namespace ember::serve
