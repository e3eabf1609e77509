#include "cli/bench_stdin.h"

#include <time.h>

#include <chrono>
#include <fstream>
#include <istream>
#include <map>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/profile.h"

namespace ember::cli {
namespace {

using Clock = std::chrono::steady_clock;

// CPU time of the whole process (every thread), in ms: what a forward costs in cores, apart from
// the time its threads waited for one on a shared machine.
double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return 1e3 * static_cast<double>(ts.tv_sec) + 1e-6 * static_cast<double>(ts.tv_nsec);
}

model::Batch read_ids_file(const std::string& path, int64_t vocab) {
  std::ifstream in(path);
  EMBER_CHECK(in.good(), ErrorKind::kNotFound, "cannot read ids file '", path, "'");
  model::Batch batch;
  std::vector<int32_t> ids;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    ids.clear();
    std::istringstream fields(line);
    std::string field;
    while (fields >> field) {
      size_t used = 0;
      long long v = -1;
      try {
        v = std::stoll(field, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      // Out-of-vocabulary ids would index past the embedding table.
      EMBER_CHECK(used == field.size() && v >= 0 && v < vocab, ErrorKind::kInvalidInput, path, ":",
                  n, ": '", field, "' is not a token id below ", vocab);
      ids.push_back(static_cast<int32_t>(v));
    }
    if (!ids.empty()) batch.add(ids);
  }
  EMBER_CHECK(batch.size() > 0, ErrorKind::kInvalidInput, "ids file '", path, "' is empty");
  return batch;
}

class Server {
 public:
  explicit Server(const runtime::Engine& engine) : engine_(engine) {}

  nlohmann::json handle(const std::string& line) {
    std::istringstream words(line);
    std::string verb, path;
    words >> verb >> path;
    if (verb == "time") {
      long long n = 0;
      words >> n;
      EMBER_CHECK(n > 0, ErrorKind::kInvalidInput, "usage: time IDS_FILE N (N > 0)");
      const model::Batch& batch = ids(path);
      std::vector<double> ms, cpu_ms;
      for (long long i = 0; i < n; ++i) {
        const double c0 = process_cpu_ms();
        const auto t0 = Clock::now();
        engine_.run(batch, runtime::kHidden);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        cpu_ms.push_back(process_cpu_ms() - c0);
      }
      return {{"ms", ms}, {"cpu_ms", cpu_ms}};
    }
    if (verb == "hidden") {
      std::string out_path;
      words >> out_path;
      EMBER_CHECK(!out_path.empty(), ErrorKind::kInvalidInput, "usage: hidden IDS_FILE OUT_FILE");
      const model::Batch& batch = ids(path);
      const runtime::RunResult r = engine_.run(batch, runtime::kHidden);
      std::ofstream out(out_path, std::ios::binary);
      out.write(reinterpret_cast<const char*>(r.hidden.data()),
                static_cast<std::streamsize>(r.hidden.size() * sizeof(float)));
      EMBER_CHECK(out.good(), ErrorKind::kInvalidInput, "cannot write '", out_path, "'");
      return {{"tokens", batch.num_tokens()}, {"hidden", r.hidden_size}};
    }
    if (verb == "profile") {
      nlohmann::json ops = nlohmann::json::array();
      for (const profile::Totals& t : profile::totals(/*reset=*/true))
        ops.push_back({{"label", t.label},
                       {"calls", t.calls},
                       {"ms", t.seconds * 1e3},
                       {"cpu_ms", t.cpu_seconds * 1e3}});
      return {{"enabled", profile::enabled()}, {"ops", ops}};
    }
    fail(ErrorKind::kInvalidInput, "unknown request '", verb,
         "' (expected: time IDS_FILE N | hidden IDS_FILE OUT_FILE | profile | quit)");
  }

 private:
  const model::Batch& ids(const std::string& path) {
    EMBER_CHECK(!path.empty(), ErrorKind::kInvalidInput, "missing IDS_FILE");
    auto it = cache_.find(path);
    if (it == cache_.end())
      it = cache_.emplace(path, read_ids_file(path, engine_.spec().vocab_size())).first;
    return it->second;
  }

  const runtime::Engine& engine_;
  std::map<std::string, model::Batch> cache_;
};

}  // namespace

int serve_bench_requests(const runtime::Engine& engine, std::istream& in, std::ostream& out,
                         double load_ms) {
  out << nlohmann::json{{"ready", true},
                        {"model", engine.info().name},
                        {"dir", engine.info().dir},
                        {"load_ms", load_ms},
                        {"isa", std::string(isa_name(active_isa()))},
                        {"dtype", engine.info().dtype},
                        {"dtype_note", engine.info().dtype_note},
                        {"quantization", engine.info().quantization},
                        {"threads", engine.info().threads}}
             .dump()
      << std::endl;
  Server server(engine);
  std::string line;
  while (std::getline(in, line)) {
    if (line == "quit") break;
    if (line.empty()) continue;
    nlohmann::json reply;
    try {
      reply = server.handle(line);
    } catch (const Error& e) {
      reply = {{"error", e.what()}, {"error_type", std::string(error_kind_name(e.kind()))}};
    }
    out << reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  }
  return 0;
}

}  // namespace ember::cli
