// ember._ember: the public C++ API (include/ember/ember.h) for Python. Thin on purpose: the
// sentence-transformers-like classes are Python (python/ember/); this module loads models and
// runs one packed batch (ember::Batch) per call with the GIL released, handing the engine's
// output vectors to numpy without copying them (a capsule owns each vector).
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ember/ember.h"
#include "errors.h"

namespace nb = nanobind;

namespace ember::python {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// A numpy array [rows, cols] (or [rows] when cols is 0) over `v`, which it then owns.
template <typename T>
nb::ndarray<nb::numpy, T> to_numpy(std::vector<T>&& v, size_t rows, size_t cols = 0) {
  auto* owned = new std::vector<T>(std::move(v));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  const size_t shape[2] = {rows, cols};
  return nb::ndarray<nb::numpy, T>(owned->data(), cols ? 2 : 1, shape, owner);
}

// Tokenizes with the model's length rule and runs the inputs as one packed batch (the caller
// chose the batch); throws kInvalidInput for no inputs.
Outputs run_texts(const Model& m, const std::vector<std::string>& texts, unsigned outputs) {
  if (texts.empty()) throw Error(ErrorKind::kInvalidInput, "no texts");
  Batch batch;
  for (const std::string& t : texts) batch.add(m.tokenize(t));
  return m.run(batch, outputs);
}

Outputs run_pairs(const Model& m, const Pairs& pairs, unsigned outputs) {
  if (pairs.empty()) throw Error(ErrorKind::kInvalidInput, "no text pairs");
  Batch batch;
  for (const auto& [a, b] : pairs) batch.add(m.tokenize(a, b));
  return m.run(batch, outputs);
}

const char* kind_name(ModelKind k) {
  switch (k) {
    case ModelKind::kEmbedding:
      return "embedding";
    case ModelKind::kSequenceClassification:
      return "sequence_classification";
    case ModelKind::kTokenClassification:
      return "token_classification";
    case ModelKind::kSparse:
      return "sparse";
  }
  return "embedding";
}

nb::dict info_dict(const ModelInfo& i) {
  nb::dict d;
  d["name"] = i.name;
  d["model_type"] = i.model_type;
  d["architecture"] = i.architecture;
  d["kind"] = kind_name(i.kind);
  d["hidden_size"] = i.hidden_size;
  d["vocab_size"] = i.vocab_size;
  d["max_length"] = i.max_length;
  d["parameters"] = i.parameters;
  d["pooling"] = i.pooling;
  d["normalize"] = i.normalize;
  d["labels"] = i.labels;
  d["prompts"] = i.prompts;
  d["default_prompt_name"] = i.default_prompt_name.empty()
                                 ? nb::none()
                                 : nb::object(nb::str(i.default_prompt_name.c_str()));
  d["include_prompt"] = i.include_prompt;
  d["quantization"] = i.quantization;
  d["fp32_linears"] = i.fp32_linears;
  d["backend"] = i.backend;
  d["threads"] = i.threads;
  d["layers"] = i.layers.size();
  d["dtype"] = i.dtype;
  d["dtype_note"] = i.dtype_note;
  return d;
}

Model load(const std::string& model, int threads, std::optional<int64_t> max_length, bool truncate,
           const std::string& backend, const std::string& dtype) {
  LoadOptions o;
  o.threads = threads;
  o.dtype = dtype;
  o.max_length = max_length;
  o.truncate = truncate;
  o.backend = backend;
  nb::gil_scoped_release unlocked;
  return Model::load(model, o);
}

// One packed batch of `prompt + text` per text, pooled as Model::embed(texts, EmbedOptions)
// pools: where the model's Pooling leaves the prompt out (include_prompt false), from the last
// hidden states past the prompt's tokens.
nb::ndarray<nb::numpy, float> embed(const Model& m, const std::vector<std::string>& texts,
                                    const std::string& prompt) {
  const auto h = static_cast<size_t>(m.info().hidden_size);
  std::vector<float> pooled;
  {
    nb::gil_scoped_release unlocked;
    if (prompt.empty()) {
      pooled = run_texts(m, texts, kPooled).pooled;
    } else {
      std::vector<std::string> prompted;
      prompted.reserve(texts.size());
      for (const std::string& t : texts) prompted.push_back(prompt + t);
      if (m.info().include_prompt || prompted.empty()) {
        pooled = run_texts(m, prompted, kPooled).pooled;
      } else {
        Batch batch;
        for (const std::string& t : prompted) batch.add(m.tokenize(t));
        const Outputs o = m.run(batch, kHidden);
        const int64_t from = m.prompt_length(prompt);
        pooled.reserve(texts.size() * h);
        for (int64_t s = 0; s < batch.size(); ++s) {
          const std::vector<float> v = m.pool(
              o.hidden.data() + static_cast<size_t>(batch.begin(s)) * h, batch.length(s), from);
          pooled.insert(pooled.end(), v.begin(), v.end());
        }
      }
    }
  }
  return to_numpy(std::move(pooled), texts.size(), h);
}

// The prompt text embed() is given for sentence-transformers' (prompt_name, prompt): the
// prompt, else the named one, else the model's default ("" for none).
std::string prompt_text(const Model& m, const std::optional<std::string>& prompt_name,
                        const std::optional<std::string>& prompt) {
  return m.prompt_text(EmbedOptions{prompt_name, prompt});
}

nb::ndarray<nb::numpy, float> logits(const Model& m, const std::vector<std::string>& texts) {
  Outputs o;
  {
    nb::gil_scoped_release unlocked;
    o = run_texts(m, texts, kSeqLogits);
  }
  return to_numpy(std::move(o.seq_logits), texts.size(), static_cast<size_t>(o.num_labels));
}

nb::ndarray<nb::numpy, float> pair_logits(const Model& m, const Pairs& pairs) {
  Outputs o;
  {
    nb::gil_scoped_release unlocked;
    o = run_pairs(m, pairs, kSeqLogits);
  }
  return to_numpy(std::move(o.seq_logits), pairs.size(), static_cast<size_t>(o.num_labels));
}

// [(indices int32, values float32)] per text, indices increasing.
nb::list sparse(const Model& m, const std::vector<std::string>& texts) {
  std::vector<SparseVector> v;
  {
    nb::gil_scoped_release unlocked;
    v = m.embed_sparse(texts);
  }
  nb::list out;
  for (SparseVector& s : v) {
    const size_t n = s.indices.size();
    out.append(nb::make_tuple(to_numpy(std::move(s.indices), n), to_numpy(std::move(s.values), n)));
  }
  return out;
}

// [(ids int32, type_ids int32, tokens)] per text (or per pair when `pairs` is given).
nb::list tokenize(const Model& m, const std::vector<std::string>& texts,
                  const std::optional<std::vector<std::string>>& pairs) {
  if (pairs && pairs->size() != texts.size())
    throw Error(ErrorKind::kInvalidInput, "tokenize: " + std::to_string(texts.size()) +
                                              " texts but " + std::to_string(pairs->size()) +
                                              " second texts");
  std::vector<Encoding> encodings;
  encodings.reserve(texts.size());
  {
    nb::gil_scoped_release unlocked;
    for (size_t i = 0; i < texts.size(); ++i)
      encodings.push_back(pairs ? m.tokenize(texts[i], (*pairs)[i]) : m.tokenize(texts[i]));
  }
  nb::list out;
  for (Encoding& e : encodings) {
    const size_t n = e.ids.size();
    nb::list tokens;
    for (const std::string& t : e.tokens) tokens.append(nb::str(t.data(), t.size()));
    out.append(
        nb::make_tuple(to_numpy(std::move(e.ids), n), to_numpy(std::move(e.type_ids), n), tokens));
  }
  return out;
}

// For bench/python: seconds per run_texts call, timed inside C++ (the engine's own time, with
// no Python in the loop), after one warm-up call.
double time_run_texts(const Model& m, const std::vector<std::string>& texts, int iterations) {
  if (iterations < 1) throw Error(ErrorKind::kInvalidInput, "iterations must be >= 1");
  nb::gil_scoped_release unlocked;
  run_texts(m, texts, kPooled);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) run_texts(m, texts, kPooled);
  const std::chrono::duration<double> s = std::chrono::steady_clock::now() - start;
  return s.count() / iterations;
}

void quantize_copy(const std::string& model, const std::string& out_dir, bool force) {
  nb::gil_scoped_release unlocked;
  quantize(model, out_dir, force);
}

}  // namespace
}  // namespace ember::python

NB_MODULE(_ember, m) {
  using namespace ember::python;
  namespace py = ember::python;
  m.doc() = "Ember's C++ engine (include/ember/ember.h); use the classes of the ember package.";
  register_error_translator();

  nb::class_<ember::Model>(m, "Model")
      .def_static("load", &load, nb::arg("model"), nb::arg("threads") = 0,
                  nb::arg("max_length") = nb::none(), nb::arg("truncate") = true,
                  nb::arg("backend") = "cpu", nb::arg("dtype") = "auto")
      .def_prop_ro("info", [](const ember::Model& model) { return info_dict(model.info()); })
      .def("embed", &embed, nb::arg("texts"), nb::arg("prompt") = "")
      .def("prompt_text", &prompt_text, nb::arg("prompt_name") = nb::none(),
           nb::arg("prompt") = nb::none())
      .def("logits", &logits, nb::arg("texts"))
      .def("pair_logits", &pair_logits, nb::arg("pairs"))
      .def("sparse", &sparse, nb::arg("texts"))
      .def("tokenize", &py::tokenize, nb::arg("texts"), nb::arg("pairs") = nb::none());
  m.def("quantize", &quantize_copy, nb::arg("model"), nb::arg("out_dir"), nb::arg("force") = false);
  m.def("_time_run_texts", &time_run_texts, nb::arg("model"), nb::arg("texts"),
        nb::arg("iterations"));
}
