// The models a server is started with: --model NAME_OR_PATH, --model ALIAS=PATH (repeatable),
// --model-repository DIR (each subdirectory a model, named by it), --pin NAME. Checked at start:
// a duplicate name, a missing directory or an unknown --pin is a typed error naming its flag.
#pragma once

#include <string>
#include <vector>

#include "serve/model_registry.h"

namespace ember::serve {

struct ModelFlags {
  std::vector<std::string> models;  // --model, in order; the first is the default model
  std::string repository;           // --model-repository
  std::vector<std::string> pins;    // --pin
  std::string served_model_name;    // --served-model-name: the first --model's name
};

// What clients see as a model's name: never the filesystem path it was loaded from (the
// directory's name), or a cache name as given.
std::string public_model_name(const std::string& model);

// The sources in order (--model first, then the repository's subdirectories by name), each
// with `options`.
std::vector<ModelSource> model_sources(const ModelFlags& flags, const ember::LoadOptions& options);

}  // namespace ember::serve
