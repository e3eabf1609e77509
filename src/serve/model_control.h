// Triton's model repository extension, for both transports: the index of the models a server
// knows (HTTP POST /v2/repository/index, gRPC RepositoryIndex) and loading or unloading one
// (POST /v2/repository/models/{m}/load, /unload; gRPC RepositoryModelLoad, RepositoryModelUnload),
// with the same rules and errors on both.
#pragma once

#include <string>
#include <vector>

#include "serve/served_model.h"

namespace ember::serve {

// One model of the index, as Triton lists it.
struct RepositoryModel {
  std::string name;
  std::string version;  // kserve::kModelVersion
  std::string state;    // "READY" when loaded, else "UNAVAILABLE"
  std::string reason;   // "", "unloaded", "loading", or why its load failed
};

// Every model in the order given, or only the READY ones.
std::vector<RepositoryModel> repository_index(const ServedModels& models, bool ready_only);

// Loads the model (`name` is a served name), or, when it is loaded, loads its source again
// beside it and swaps it in (requests in flight finish on the old one); or unloads it now.
// Throws HttpError 403 without --allow-model-control (`allowed`); 400 for a parameter (named in
// `parameters`) other than an unload's "unload_dependents" (Ember loads a model from its
// directory as it is, so Triton's "config" and "file:..." overrides are refused, and it has no
// ensembles to depend on a model); 409 when requests hold a model to unload; or the load's error.
void control_model(const ServedModels& models, const std::string& name, bool load, bool allowed,
                   const std::vector<std::string>& parameters);

}  // namespace ember::serve
