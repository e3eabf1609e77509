#include "prune/calibration.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>

#include "core/error.h"
#include "io/json_config.h"

namespace ember::prune {

std::vector<std::string> read_texts(const std::filesystem::path& path) {
  std::ifstream in(path);
  EMBER_CHECK(in.good() && !std::filesystem::is_directory(path), ErrorKind::kNotFound,
              "calibration file '", path.string(), "' cannot be read");
  const std::string ext = path.extension().string();
  const bool json_lines = ext == ".jsonl" || ext == ".json";
  std::vector<std::string> texts;
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (json_lines) {
      const std::string where = path.string() + ":" + std::to_string(number);
      const nlohmann::json j = io::parse_json(line, where);
      if (j.is_string()) {
        line = j.get<std::string>();
      } else {
        EMBER_CHECK(j.is_object() && j.contains("text") && j["text"].is_string(),
                    ErrorKind::kInvalidInput, where,
                    ": a JSON line must be a string or an object with a string \"text\"");
        line = j["text"].get<std::string>();
      }
      if (line.empty()) continue;
    }
    texts.push_back(std::move(line));
  }
  EMBER_CHECK(!texts.empty(), ErrorKind::kInvalidInput, "calibration file '", path.string(),
              "' has no texts");
  return texts;
}

std::vector<int> read_labels(const std::filesystem::path& path,
                             const std::vector<std::string>& names, size_t texts) {
  std::ifstream in(path);
  EMBER_CHECK(in.good() && !std::filesystem::is_directory(path), ErrorKind::kNotFound,
              "labels file '", path.string(), "' cannot be read");
  EMBER_CHECK(!names.empty(), ErrorKind::kInvalidInput, "--labels needs a model with labels");
  std::vector<int> labels;
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t b = line.find_first_not_of(" \t"), e = line.find_last_not_of(" \t");
    if (b == std::string::npos) continue;
    const std::string label = line.substr(b, e - b + 1);
    int id = -1;
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == label) id = static_cast<int>(i);
    if (id < 0 && label.find_first_not_of("0123456789") == std::string::npos && label.size() < 9 &&
        std::stoi(label) < static_cast<int>(names.size()))
      id = std::stoi(label);
    if (id < 0) {
      std::string known;
      for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
      fail(ErrorKind::kInvalidInput, path.string(), ":", number, ": unknown label '", label,
           "' (the model's labels: ", known, "; or a class index below ", names.size(), ")");
    }
    labels.push_back(id);
  }
  EMBER_CHECK(labels.size() == texts, ErrorKind::kInvalidInput, "labels file '", path.string(),
              "' has ", labels.size(), " labels for ", texts,
              " calibration texts (one per text, blank lines skipped)");
  return labels;
}

std::filesystem::path data_cache_dir() {
  const auto env = [](const char* name) -> const char* {
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
  };
  if (const char* v = env("EMBER_DATA_DIR")) return v;
  if (const char* v = env("XDG_CACHE_HOME")) return std::filesystem::path(v) / "ember" / "data";
  if (const char* v = env("HOME")) return std::filesystem::path(v) / ".cache" / "ember" / "data";
  return std::filesystem::path(".cache") / "ember" / "data";
}

std::vector<std::string> default_texts() {
  const auto dir = data_cache_dir() / "vader" / "hutto_ICWSM_2014";
  std::vector<std::string> texts;
  for (const char* name : {"tweets_GroundTruth.txt", "amazonReviewSnippets_GroundTruth.txt",
                           "nytEditorialSnippets_GroundTruth.txt"}) {
    std::ifstream in(dir / name);
    EMBER_CHECK(in.good(), ErrorKind::kNotFound,
                "no --calibration and no default calibration text: ", (dir / name).string(),
                " is missing (scripts/fetch_data.sh puts it there; or give --calibration FILE)");
    // "id<TAB>rating<TAB>text"
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const size_t t1 = line.find('\t'),
                   t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
      if (t2 != std::string::npos && line.find_first_not_of(" \t", t2 + 1) != std::string::npos)
        texts.push_back(line.substr(t2 + 1));
    }
  }
  return texts;
}

Calibration make_calibration(const std::vector<std::string>& texts, const runtime::Engine& engine,
                             const CalibrationOptions& o, const std::vector<int>& labels) {
  EMBER_CHECK(!texts.empty(), ErrorKind::kInvalidInput, "no calibration texts");
  EMBER_CHECK(labels.empty() || labels.size() == texts.size(), ErrorKind::kInvalidInput,
              labels.size(), " labels for ", texts.size(), " calibration texts");
  EMBER_CHECK(o.batch_sequences > 0 && o.max_texts > 0, ErrorKind::kInvalidInput,
              "calibration batch size and text count must be positive");
  std::vector<size_t> order(texts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(o.seed);
  std::shuffle(order.begin(), order.end(), rng);
  if (static_cast<int64_t>(order.size()) > o.max_texts)
    order.resize(static_cast<size_t>(o.max_texts));
  size_t held = static_cast<size_t>(static_cast<double>(order.size()) * o.held_out_fraction);
  if (order.size() >= 2)
    held = std::clamp<size_t>(held, 1, order.size() - 1);
  else
    held = 0;

  Calibration c;
  auto pack = [&](size_t begin, size_t end, std::vector<model::Batch>& out,
                  std::vector<int>& out_labels) {
    std::vector<tok::Encoding> group;
    for (size_t i = begin; i < end; ++i) {
      if (!labels.empty()) out_labels.push_back(labels[order[i]]);
      group.push_back(engine.tokenize(texts[order[i]]));
      if (static_cast<int64_t>(group.size()) == o.batch_sequences || i + 1 == end) {
        out.push_back(runtime::Engine::pack(group));
        group.clear();
      }
    }
  };
  pack(0, order.size() - held, c.fit, c.fit_labels);
  pack(order.size() - held, order.size(), c.held_out, c.held_out_labels);
  c.fit_texts = static_cast<int64_t>(order.size() - held);
  c.held_out_texts = static_cast<int64_t>(held);
  for (const auto& b : c.fit) c.fit_tokens += b.num_tokens();
  return c;
}

}  // namespace ember::prune
