// What the load generator sends: request bodies built from real sentences with a length mix
// (most inputs one sentence, some short paragraphs, a few long ones), N inputs per request,
// an optional share of repeated inputs (to exercise a result cache), and a body template.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

namespace ember::loadtest {

// One text per non-empty line of `path`; empty path: the bundled bench/serve/texts.txt.
// kNotFound / kInvalidInput if the file is missing or holds no text.
std::vector<std::string> load_texts(const std::string& path);

struct WorkloadOptions {
  std::string route = "/embed";
  int batch = 1;      // inputs per request
  double repeat = 0;  // share of inputs drawn again from the last `hot_set` inputs
  size_t hot_set = 512;
  std::string body_template;  // "{{inputs}}" is replaced by a JSON list of strings; empty: by route
  uint64_t seed = 1;
};

// The default template of a route: /embed (and /) {"inputs": ..., "truncate": true};
// /v1/embeddings {"input": ..., "model": "default", "truncate": true}. Other routes need
// --body. kInvalidInput if the template has no {{inputs}}.
std::string default_body_template(const std::string& route);

class Workload {
 public:
  Workload(std::vector<std::string> texts, WorkloadOptions options);
  // The next request body (not thread-safe: the load generator's one I/O thread calls it).
  std::string next_body();
  const WorkloadOptions& options() const { return options_; }

 private:
  std::string next_input();
  std::vector<std::string> texts_;
  WorkloadOptions options_;
  std::string before_, after_;  // the template around {{inputs}}
  std::mt19937_64 rng_;
  std::deque<std::string> recent_;
};

}  // namespace ember::loadtest
