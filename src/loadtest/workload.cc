#include "loadtest/workload.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

#ifndef EMBER_DEFAULT_TEXTS
#define EMBER_DEFAULT_TEXTS "bench/serve/texts.txt"
#endif

namespace ember::loadtest {

std::vector<std::string> load_texts(const std::string& path) {
  const std::string file = path.empty() ? EMBER_DEFAULT_TEXTS : path;
  std::ifstream in(file, std::ios::binary);
  EMBER_CHECK(in.good(), ErrorKind::kNotFound, "--texts: cannot open '", file, "'");
  std::vector<std::string> texts;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) texts.push_back(line);
  }
  EMBER_CHECK(!texts.empty(), ErrorKind::kInvalidInput, "--texts: '", file, "' holds no text");
  return texts;
}

std::string default_body_template(const std::string& route) {
  if (route == "/embed" || route == "/") return R"({"inputs":{{inputs}},"truncate":true})";
  if (route == "/v1/embeddings") return R"({"input":{{inputs}},"model":"default","truncate":true})";
  fail(ErrorKind::kInvalidInput, "--route ", route,
       ": no default body; give --body with {{inputs}} in it");
}

Workload::Workload(std::vector<std::string> texts, WorkloadOptions options)
    : texts_(std::move(texts)), options_(std::move(options)), rng_(options_.seed) {
  EMBER_CHECK(!texts_.empty(), ErrorKind::kInvalidInput, "no texts to send");
  EMBER_CHECK(options_.batch >= 1, ErrorKind::kInvalidInput, "--batch must be at least 1");
  EMBER_CHECK(options_.repeat >= 0 && options_.repeat <= 1, ErrorKind::kInvalidInput,
              "--repeat must be in [0, 1]");
  const std::string tpl = options_.body_template.empty() ? default_body_template(options_.route)
                                                         : options_.body_template;
  const auto at = tpl.find("{{inputs}}");
  EMBER_CHECK(at != std::string::npos, ErrorKind::kInvalidInput, "--body must contain {{inputs}}");
  before_ = tpl.substr(0, at);
  after_ = tpl.substr(at + 10);
}

// Length mix in sentences per input: 55% one, 30% two or three, 12% four to six, 3% ten to
// sixteen (over 128 tokens, truncated to the model's limit by "truncate": true).
std::string Workload::next_input() {
  std::uniform_real_distribution<double> u(0, 1);
  if (!recent_.empty() && u(rng_) < options_.repeat) {
    std::uniform_int_distribution<size_t> pick(0, recent_.size() - 1);
    return recent_[pick(rng_)];
  }
  const double r = u(rng_);
  int lo = 1, hi = 1;
  if (r >= 0.55 && r < 0.85) lo = 2, hi = 3;
  if (r >= 0.85 && r < 0.97) lo = 4, hi = 6;
  if (r >= 0.97) lo = 10, hi = 16;
  const int n = std::uniform_int_distribution<int>(lo, hi)(rng_);
  std::uniform_int_distribution<size_t> pick(0, texts_.size() - 1);
  std::string text;
  for (int i = 0; i < n; ++i) {
    if (i) text += ' ';
    text += texts_[pick(rng_)];
  }
  recent_.push_back(text);
  if (recent_.size() > options_.hot_set) recent_.pop_front();
  return text;
}

std::string Workload::next_body() {
  nlohmann::json inputs = nlohmann::json::array();
  for (int i = 0; i < options_.batch; ++i) inputs.push_back(next_input());
  return before_ + inputs.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + after_;
}

}  // namespace ember::loadtest
