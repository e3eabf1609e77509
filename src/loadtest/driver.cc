#include "loadtest/driver.h"

#include <deque>
#include <random>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ember::loadtest {

namespace net = boost::asio;
using Ms = std::chrono::duration<double, std::milli>;

namespace {

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// Calls progress about once a second while the step runs.
void tick(net::steady_timer& t, Clock::time_point t0, Clock::time_point end, const int64_t& n,
          const Progress& progress) {
  if (!progress) return;
  t.expires_after(std::chrono::seconds(1));
  t.async_wait([&t, t0, end, &n, &progress](boost::system::error_code ec) {
    if (ec || Clock::now() > end) return;
    progress(std::chrono::duration<double>(Clock::now() - t0).count(), n);
    tick(t, t0, end, n, progress);
  });
}

}  // namespace

Driver::Driver(DriverOptions options, Workload& workload)
    : options_(std::move(options)), workload_(workload) {}

std::shared_ptr<const RequestSpec> Driver::next_spec() {
  auto spec = std::make_shared<RequestSpec>();
  spec->target = options_.url.prefix + workload_.options().route;
  spec->body = workload_.next_body();
  spec->api_key = options_.api_key;
  return spec;
}

StepStats Driver::closed(int users, double warmup_s, double duration_s, const Progress& progress) {
  EMBER_CHECK(users >= 1, ErrorKind::kInvalidInput, "--users: counts must be at least 1");
  net::io_context ioc;
  const auto endpoints = resolve(ioc, options_.url);
  const auto t0 = Clock::now();
  const auto from = t0 + seconds(warmup_s), end = from + seconds(duration_s);
  StepRecorder rec;
  int64_t answered = 0;
  const int batch = workload_.options().batch;
  std::vector<std::shared_ptr<Connection>> conns;
  std::vector<std::unique_ptr<net::steady_timer>> backoff;
  for (int u = 0; u < users; ++u) {
    conns.push_back(
        std::make_shared<Connection>(ioc, endpoints, options_.url.host, options_.timeout));
    backoff.push_back(std::make_unique<net::steady_timer>(ioc));
  }
  // Each user's loop; answers are counted when they arrive inside [from, end].
  std::function<void(int)> issue = [&](int u) {
    conns[u]->send(next_spec(), Clock::now(), [&, u](HttpResult r) {
      const auto now = Clock::now();
      if (now >= from && now <= end) {
        rec.add(r, batch);
        ++answered;
      }
      if (now >= end) return conns[u]->close();
      if (r.status != 0) return issue(u);
      backoff[u]->expires_after(std::chrono::milliseconds(20));  // refused: do not spin
      backoff[u]->async_wait([&, u](boost::system::error_code) { issue(u); });
    });
  };
  for (int u = 0; u < users; ++u) issue(u);
  net::steady_timer ticker(ioc);
  tick(ticker, t0, end, answered, progress);
  ioc.run();
  return rec.finish("closed", users, duration_s);
}

StepStats Driver::open(double rate, double warmup_s, double duration_s, const Progress& progress) {
  EMBER_CHECK(rate > 0, ErrorKind::kInvalidInput, "--rates: rates must be positive");
  net::io_context ioc;
  const auto endpoints = resolve(ioc, options_.url);
  const auto t0 = Clock::now() + std::chrono::milliseconds(5);
  const auto from = t0 + seconds(warmup_s), end = from + seconds(duration_s);

  // The schedule, fixed in advance: the server's speed cannot change when requests are due.
  std::vector<Clock::time_point> due;
  std::mt19937_64 rng(options_.seed + ++step_);
  std::exponential_distribution<double> gap(rate);
  for (auto t = t0; t < end;)
    due.push_back(t), t += seconds(options_.poisson ? gap(rng) : 1.0 / rate);

  StepRecorder rec;
  int64_t answered = 0, outstanding = 0;
  const int batch = workload_.options().batch;
  size_t next = 0;
  int open_connections = 0;
  std::vector<std::shared_ptr<Connection>> idle, all;
  std::deque<std::pair<std::shared_ptr<const RequestSpec>, Clock::time_point>> backlog;
  net::steady_timer arrivals(ioc), drain(ioc);
  bool arrivals_done = false, given_up = false;

  std::function<void(std::shared_ptr<Connection>, std::shared_ptr<const RequestSpec>,
                     Clock::time_point)>
      send;
  send = [&](std::shared_ptr<Connection> c, std::shared_ptr<const RequestSpec> spec,
             Clock::time_point scheduled) {
    ++outstanding;
    c->send(std::move(spec), scheduled, [&, c, scheduled](HttpResult r) {
      --outstanding;
      if (scheduled >= from && scheduled < end) {
        rec.add(r, batch);
        ++answered;
      }
      if (!backlog.empty() && !given_up) {
        auto [s, when] = std::move(backlog.front());
        backlog.pop_front();
        return send(c, std::move(s), when);
      }
      idle.push_back(c);
      if (arrivals_done && outstanding == 0) drain.cancel();
    });
  };
  std::function<void()> release = [&] {
    const auto now = Clock::now();
    for (; next < due.size() && due[next] <= now; ++next) {
      auto spec = next_spec();
      if (!idle.empty()) {
        auto c = idle.back();
        idle.pop_back();
        send(c, std::move(spec), due[next]);
      } else if (open_connections < options_.max_connections) {
        ++open_connections;
        all.push_back(
            std::make_shared<Connection>(ioc, endpoints, options_.url.host, options_.timeout));
        send(all.back(), std::move(spec), due[next]);
      } else {
        backlog.emplace_back(std::move(spec), due[next]);  // late: its latency keeps counting
      }
    }
    if (next < due.size()) {
      arrivals.expires_at(due[next]);
      return arrivals.async_wait([&](boost::system::error_code) { release(); });
    }
    arrivals_done = true;
    // Requests still unanswered a timeout after the last arrival are closed (and counted).
    drain.expires_at(end + options_.timeout);
    drain.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      given_up = true;
      for (auto& c : all) c->close();
    });
    if (outstanding == 0) drain.cancel();
  };
  release();
  net::steady_timer ticker(ioc);
  tick(ticker, t0, end, answered, progress);
  ioc.run();
  for (auto& c : all) c->close();
  // Anything scheduled in the window that never got a connection is a failure too.
  for (auto& [spec, when] : backlog)
    if (when >= from && when < end) rec.add(HttpResult{}, batch);
  return rec.finish("open", rate, duration_s);
}

namespace {

struct TokenPool {
  std::vector<int32_t> ids;       // non-special ids of the texts, in order
  int32_t first = -1, last = -1;  // the special tokens the tokenizer adds around one text
};

// Asks the server's /tokenize for the ids of the texts (one request per chunk of texts).
TokenPool token_pool(const DriverOptions& o, const std::vector<std::string>& texts, size_t want) {
  TokenPool pool;
  for (size_t i = 0; i < texts.size() && pool.ids.size() < want; i += 64) {
    nlohmann::json inputs = nlohmann::json::array();
    for (size_t j = i; j < std::min(texts.size(), i + 64); ++j) inputs.push_back(texts[j]);
    RequestSpec spec;
    spec.target = o.url.prefix + "/tokenize";
    spec.api_key = o.api_key;
    spec.body = nlohmann::json{{"inputs", inputs}, {"add_special_tokens", true}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    const auto r = fetch_once(o.url, spec, o.timeout);
    EMBER_CHECK(r.status == 200, ErrorKind::kUnavailable, "POST /tokenize answered ",
                r.status ? std::to_string(r.status) : r.error, ": ", r.body.substr(0, 200));
    const auto lists = nlohmann::json::parse(r.body, nullptr, false);
    EMBER_CHECK(lists.is_array(), ErrorKind::kInvalidInput, "/tokenize did not answer a list");
    for (const auto& list : lists) {
      for (size_t k = 0; k < list.size(); ++k) {
        const auto& t = list[k];
        const auto id = t.value("id", -1);
        if (!t.value("special", false)) {
          pool.ids.push_back(id);
        } else if (k == 0) {
          pool.first = id;
        } else if (k + 1 == list.size()) {
          pool.last = id;
        }
      }
    }
  }
  return pool;
}

}  // namespace

SingleStats run_single(const DriverOptions& o, const std::vector<std::string>& texts, int tokens,
                       int warmup, int reps) {
  EMBER_CHECK(tokens >= 3, ErrorKind::kInvalidInput, "--single: lengths must be at least 3");
  const TokenPool pool = token_pool(o, texts, static_cast<size_t>(tokens) * 8 + 4096);
  const int specials = (pool.first >= 0) + (pool.last >= 0);
  const size_t body_len = static_cast<size_t>(tokens - specials);
  EMBER_CHECK(pool.ids.size() > body_len + 1, ErrorKind::kInvalidInput,
              "--texts: too little text for inputs of ", tokens, " tokens");
  net::io_context ioc;
  auto conn = std::make_shared<Connection>(ioc, resolve(ioc, o.url), o.url.host, o.timeout);
  SingleStats s;
  s.tokens = tokens;
  s.reps = reps;
  std::vector<double> e2e, total, inference, overhead, server_other, outside;
  const size_t windows = pool.ids.size() - body_len;
  // A random first window (so a second run does not meet the first one's cache entries), then
  // steps by a prime so consecutive reps share no prefix and do not repeat soon.
  const size_t base = std::random_device{}() % windows;
  for (int rep = -warmup; rep < reps; ++rep) {
    const size_t at = (base + static_cast<size_t>(rep + warmup) * 7919) % windows;
    nlohmann::json ids = nlohmann::json::array();
    if (pool.first >= 0) ids.push_back(pool.first);
    for (size_t k = 0; k < body_len; ++k) ids.push_back(pool.ids[at + k]);
    if (pool.last >= 0) ids.push_back(pool.last);
    auto spec = std::make_shared<RequestSpec>();
    spec->target = o.url.prefix + "/embed";
    spec->api_key = o.api_key;
    spec->body = nlohmann::json{{"inputs", ids}}.dump();
    HttpResult res;
    conn->send(spec, Clock::now(), [&res](HttpResult r) { res = std::move(r); });
    ioc.restart();
    ioc.run();
    if (rep < 0) continue;
    if (res.status != 200) {
      ++s.errors;
      continue;
    }
    if (res.cache_hit) ++s.cache_hits;
    e2e.push_back(res.latency_ms);
    if (res.server_total_ms >= 0) {
      total.push_back(res.server_total_ms);
      outside.push_back(res.latency_ms - res.server_total_ms);
      if (res.server_inference_ms >= 0)
        server_other.push_back(res.server_total_ms - res.server_inference_ms);
    }
    if (res.server_inference_ms >= 0) {
      inference.push_back(res.server_inference_ms);
      overhead.push_back(res.latency_ms - res.server_inference_ms);
    }
  }
  conn->close();
  s.e2e_p50 = percentile(e2e, 0.5);
  s.e2e_p95 = percentile(e2e, 0.95);
  s.server_total_p50 = percentile(total, 0.5);
  s.inference_p50 = percentile(inference, 0.5);
  s.inference_p95 = percentile(inference, 0.95);
  s.overhead_p50 = percentile(overhead, 0.5);
  s.server_other_p50 = percentile(server_other, 0.5);
  s.outside_server_p50 = percentile(outside, 0.5);
  return s;
}

std::string single_to_markdown(const std::vector<SingleStats>& rows) {
  std::string out =
      "| tokens | reps | end-to-end p50 ms | p95 ms | server total p50 ms | inference p50 ms | "
      "p95 ms | overhead p50 ms (e2e - inference) | server outside inference p50 ms | "
      "outside the server's timing p50 ms | errors | cache hits |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  char line[400];
  for (const auto& s : rows) {
    std::snprintf(
        line, sizeof(line),
        "| %d | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %lld | %lld |\n",
        s.tokens, s.reps, s.e2e_p50, s.e2e_p95, s.server_total_p50, s.inference_p50,
        s.inference_p95, s.overhead_p50, s.server_other_p50, s.outside_server_p50,
        static_cast<long long>(s.errors), static_cast<long long>(s.cache_hits));
    out += line;
  }
  return out;
}

}  // namespace ember::loadtest
