#include "serve/model_control.h"

#include "core/error.h"
#include "serve/errors.h"
#include "serve/kserve_infer.h"

namespace ember::serve {

std::vector<RepositoryModel> repository_index(const ServedModels& models, bool ready_only) {
  const auto statuses = models.registry().list();
  std::vector<RepositoryModel> out;
  for (const auto& name : models.names()) {
    for (const auto& s : statuses) {
      if (s.name != name) continue;
      const bool ready = s.state == ModelState::kLoaded;
      if (ready_only && !ready) continue;
      std::string reason = s.state == ModelState::kFailed ? s.error
                           : ready                        ? ""
                                                          : model_state_name(s.state);
      out.push_back({name, std::string(kserve::kModelVersion), ready ? "READY" : "UNAVAILABLE",
                     std::move(reason)});
    }
  }
  return out;
}

void control_model(const ServedModels& models, const std::string& name, bool load, bool allowed,
                   const std::vector<std::string>& parameters) {
  if (!allowed)
    throw HttpError(403, error_type::kValidation,
                    "model control is off; start the server with --allow-model-control");
  for (const auto& p : parameters)
    if (load || p != "unload_dependents")
      throw HttpError(400, error_type::kValidation,
                      cat("parameter '", p, "' is not supported: ember loads a model from its ",
                          "directory as it is", load ? "" : " (unload takes unload_dependents)"));
  if (load) {
    models.registry().reload(name);
  } else if (!models.registry().unload(name)) {
    throw HttpError(
        409, error_type::kValidation,
        cat("model '", name, "' has requests in flight; unload it again once they are done"));
  }
}

}  // namespace ember::serve
