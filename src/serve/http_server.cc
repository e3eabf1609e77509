#include "serve/http_server.h"

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/error.h"
#include "serve/descriptor_reserve.h"
#include "serve/errors.h"
#include "serve/inline_gate.h"

namespace ember::serve {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

// What the acceptor and a cut drain do to a connection; each call runs on the connection's
// own I/O thread.
class Connection {
 public:
  // The drain was cut short: a request waiting for its answer gets 503 now (returns true), a
  // connection waiting for a request is closed, a reply being written finishes first.
  virtual bool abort() = 0;
  // Closes the connection if it still waits for a request (the acceptor needs its slot).
  virtual void shed_if_idle() = 0;
  // When it began to wait for a request (steady-clock ticks); 0 while it handles one.
  std::atomic<Clock::rep> idle_since{0};
  std::atomic<bool> served{false};  // it has answered a request

 protected:
  ~Connection() = default;
};

// One I/O thread with an io_context of its own: a connection lives on one thread, so its read,
// answer and next read wake that thread only. (One io_context shared by all I/O threads made
// Asio hand its reactor from thread to thread several times per request, each hand-off a
// wake-up: 0.04-0.06 ms per request at batch 1, docs/serve.md.) The thread's gate lets the
// batcher compute inline on it only while it owns a single connection, the submitting one, and
// the acceptor gives it no new connection until that computation is done.
struct IoThread final : InlineGate {
  // Before the io_context: sessions destroyed with it forget themselves here.
  std::mutex open_mutex;
  std::unordered_map<const Connection*, std::weak_ptr<Connection>> open;
  // Connections owned times 2, plus 1 while a batch computes inline on this thread.
  std::atomic<uint32_t> state{0};
  net::io_context ioc{1};
  net::executor_work_guard<net::io_context::executor_type> work = net::make_work_guard(ioc);

  bool try_enter() noexcept override {
    uint32_t alone = 2;
    return state.compare_exchange_strong(alone, 3);
  }
  void leave() noexcept override { state.fetch_sub(1); }

  uint32_t connections() const noexcept { return state.load() >> 1; }
  bool computing() const noexcept { return state.load() & 1; }
  // Takes a new connection unless a batch computes here.
  bool try_adopt() noexcept {
    uint32_t s = state.load();
    while (!(s & 1))
      if (state.compare_exchange_weak(s, s + 2)) return true;
    return false;
  }
  void release() noexcept { state.fetch_sub(2); }

  // The connections this thread owns, for a cut drain and for shedding idle ones.
  void remember(const std::shared_ptr<Connection>& c) {
    std::lock_guard lock(open_mutex);
    open.emplace(c.get(), c);
  }
  void forget(const Connection* c) {
    std::lock_guard lock(open_mutex);
    open.erase(c);
  }
  std::vector<std::shared_ptr<Connection>> live() {
    std::vector<std::shared_ptr<Connection>> out;
    std::lock_guard lock(open_mutex);
    for (auto& [key, weak] : open)
      if (auto c = weak.lock()) out.push_back(std::move(c));
    return out;
  }
};

// The acceptor's back-off: how long it stops accepting when it may not take a connection (at
// max_connections, or out of descriptors); existing connections are served meanwhile.
constexpr auto kAcceptPause = std::chrono::milliseconds(50);
constexpr int kAcceptBurst = 64;   // accepts in a row before signals and drain get their turn
constexpr size_t kShedBatch = 16;  // idle connections closed per pause at max_connections
// A connection idle for less is never shed: a client that just connected gets to send.
constexpr auto kMinIdleToShed = std::chrono::seconds(1);
// After a cut drain, how long the 503 answers get to go out before the threads stop.
constexpr auto kCutGrace = std::chrono::seconds(2);

}  // namespace

struct HttpServer::State {
  HttpServerOptions options;
  Router& router;
  // Declared before the control context: sessions (destroyed with their io_context) tell
  // their IoThread they are gone.
  std::vector<std::unique_ptr<IoThread>> io;
  // The control thread (the one that calls run()): acceptor, signals and drain.
  net::io_context control{1};
  tcp::acceptor acceptor;
  net::signal_set signals;
  net::steady_timer drain_timer;
  net::steady_timer drain_limit;   // drain_timeout
  net::steady_timer accept_pause;  // the acceptor's back-off
  DescriptorReserve reserve;
  const size_t max_connections;
  std::atomic<int> in_flight{0};
  std::atomic<bool> draining{false};
  std::atomic<int> unanswered{0};  // requests answered 503 by a cut drain
  // Control thread only.
  bool cut = false;
  Clock::time_point cut_deadline;
  DrainOutcome outcome;

  State(const HttpServerOptions& o, Router& r)
      : options(o),
        router(r),
        acceptor(control),
        signals(control, SIGINT, SIGTERM, SIGHUP),
        drain_timer(control),
        drain_limit(control),
        accept_pause(control),
        max_connections(o.max_connections > 0 ? o.max_connections : default_max_connections()) {
    for (int i = 0; i < std::max(1, o.threads); ++i) io.push_back(std::make_unique<IoThread>());
  }

  size_t open_connections() const {
    size_t n = 0;
    for (const auto& t : io) n += t->connections();
    return n;
  }

  // The I/O thread for a new connection: the one with the fewest connections among those not
  // computing inline. Only when every one computes (one I/O thread) does it wait its turn.
  IoThread& adopt() {
    for (;;) {
      IoThread* best = nullptr;
      for (auto& t : io)
        if (!t->computing() && (!best || t->connections() < best->connections())) best = t.get();
      if (!best) {
        io.front()->state.fetch_add(2);
        return *io.front();
      }
      if (best->try_adopt()) return *best;
    }
  }
};

namespace {

class Session final : public Connection, public std::enable_shared_from_this<Session> {
 public:
  // The socket belongs to home's io_context, and home already counts this connection.
  Session(tcp::socket&& socket, HttpServer::State& state, IoThread& home)
      : stream_(std::move(socket)), state_(state), home_(home) {
    buffer_.reserve(8192);  // a typical request in one read (Beast reads into free capacity)
  }
  ~Session() {
    home_.forget(this);
    home_.release();
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    home_.remember(shared_from_this());
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

  bool abort() override {
    if (awaiting_) {
      gone_->store(true);  // the batcher drops it before compute
      write(error_response(503, error_type::kUnhealthy,
                           "the server stopped before answering (its drain was cut short)"),
            /*close_after=*/true);
      return true;
    }
    shed_if_idle();
    return false;
  }

  void shed_if_idle() override {
    if (idle_since.load() != 0) close();
  }

 private:
  void read() {
    replied_ = false;
    idle_since = std::max<Clock::rep>(1, Clock::now().time_since_epoch().count());
    parser_.emplace();
    parser_->body_limit(state_.options.max_payload_bytes);
    stream_.expires_after(state_.options.idle_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  // The request line and headers are in: a request the router refuses on them (route, method,
  // draining, API key) is answered now and its body never read; any other body is reserved
  // in the memory budget (its Content-Length, or the payload limit when chunked) before it is
  // read, and refused with 429 when bodies being received already hold their share.
  // `Expect: 100-continue`: the client sends the body only after this interim answer (curl
  // otherwise waits a second before sending bodies over 1 KiB). An over-limit Content-Length
  // has already failed the header read (413 without reading the body).
  void on_header(beast::error_code ec) {
    idle_since = 0;  // a request came (or the connection ends): no longer idle
    // Seen before the router's own check, which begin_drain sets first: a request the router
    // lets through keeps its connection, the first one it refuses with 503 closes it.
    drain_seen_ = state_.draining.load();
    if (ec || parser_->is_done()) return on_read(ec);
    const auto& h = parser_->get();
    Request head;
    head.method = std::string(h.method_string());
    const auto target = h.target();
    head.path = std::string(target.substr(0, target.find('?')));
    head.authorization = std::string(h[http::field::authorization]);
    head.received = Clock::now();
    std::optional<Response> refused = state_.router.refuse_before_body(head);
    if (!refused && state_.options.budget) {
      const auto length = parser_->content_length();
      const auto bytes = length ? *length : state_.options.max_payload_bytes;
      try {
        body_memory_ = state_.options.budget->reserve_body(static_cast<int64_t>(bytes));
      } catch (...) {
        refused = error_response(std::current_exception());
      }
    }
    if (refused) {
      received_ = head.received;
      version_ = h.version();
      ++state_.in_flight;
      return write(std::move(*refused), /*close=*/true);
    }
    if (h.version() >= 11 && beast::iequals(h[http::field::expect], "100-continue")) {
      static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      return net::async_write(stream_, net::buffer(kContinue, sizeof(kContinue) - 1),
                              [self = shared_from_this()](beast::error_code wec, size_t) {
                                if (wec) return self->close();
                                self->read_body();
                              });
    }
    read_body();
  }

  void read_body() {
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    const auto parse_category = &http::make_error_code(http::error::bad_target).category();
    if (ec == http::error::body_limit) {
      received_ = Clock::now();
      ++state_.in_flight;
      return write(error_response(413, error_type::kValidation,
                                  cat("payload larger than ", state_.options.max_payload_bytes,
                                      " bytes (--max-payload-bytes)")),
                   /*close=*/true);
    }
    if (ec && &ec.category() == parse_category && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      received_ = Clock::now();
      ++state_.in_flight;
      return write(error_response(400, error_type::kValidation, "malformed HTTP request"), true);
    }
    if (ec) return close();  // end of stream, reset, idle timeout: nothing to answer

    auto& msg = parser_->get();
    if (body_memory_) body_memory_->end_body();
    received_ = Clock::now();
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    Request req;
    req.method = std::string(msg.method_string());
    const auto target = msg.target();
    req.path = std::string(target.substr(0, target.find('?')));
    if (const auto q = target.find('?'); q != target.npos)
      req.query = std::string(target.substr(q + 1));
    req.model_header = std::string(msg["X-Ember-Model"]);
    req.body = std::move(msg.body());
    req.authorization = std::string(msg[http::field::authorization]);
    req.inference_header_content_length = std::string(msg["Inference-Header-Content-Length"]);
    req.received = received_;
    req.memory = body_memory_;  // held by this session until the answer is written, too
    auto self = shared_from_this();
    // dispatch: a completion that arrives on this connection's thread (the batcher ran the
    // request inline, a cache hit, an error) runs at once; one from the scheduler is posted.
    req.post = [self](std::function<void()> fn) {
      net::dispatch(self->stream_.get_executor(), std::move(fn));
    };
    gone_ = std::make_shared<std::atomic<bool>>(false);
    req.client_gone = gone_;
    ++state_.in_flight;
    stream_.expires_never();  // waiting for compute is not an idle connection
    replied_ = false;
    awaiting_ = true;
    state_.router.dispatch(std::move(req), [self](Response r) {
      net::dispatch(self->stream_.get_executor(),
                    [self, r = std::move(r)]() mutable { self->write(std::move(r), false); });
    });
    // Answered already (inline compute, cache hit, error): no client to watch for.
    if (!replied_) watch();
  }

  // While the request waits for compute, a read on the socket notices a client that closed
  // or reset the connection (gone_, which the batcher checks before running the request).
  // Bytes that arrive instead (a pipelined next request) are kept for the next parse.
  void watch() {
    watching_ = true;
    stream_.socket().async_read_some(buffer_.prepare(4096),
                                     [self = shared_from_this()](beast::error_code ec, size_t n) {
                                       self->watching_ = false;
                                       const bool aborted = ec == net::error::operation_aborted;
                                       if (!ec) self->buffer_.commit(n);
                                       if (ec && !aborted) self->gone_->store(true);
                                       if (self->after_ == After::kNone)
                                         return;  // the reply's write continues later
                                       const After next = std::exchange(self->after_, After::kNone);
                                       if (ec && !aborted) return self->close();
                                       self->proceed(next);
                                     });
  }

  enum class After { kNone, kRead, kLinger };

  // After a reply was written: stop the watch first (one read at a time), then go on.
  void after_write() {
    const After next = close_ ? After::kLinger : After::kRead;
    if (watching_) {
      after_ = next;
      beast::error_code ignored;
      stream_.socket().cancel(ignored);
      return;
    }
    proceed(next);
  }

  void proceed(After next) {
    if (next == After::kLinger) return linger_close();
    read();
  }

  // The request's one answer; a second (the batcher's, after a cut drain answered 503) is
  // dropped.
  void write(Response r, bool close_after) {
    if (replied_) return;
    replied_ = true;
    awaiting_ = false;
    idle_since = 0;
    res_ = {};
    res_.version(version_);
    res_.result(static_cast<unsigned>(r.status));
    res_.set(http::field::server, "ember");
    res_.set(http::field::content_type, r.content_type);
    auto ms = [](double v) { return std::to_string(static_cast<int64_t>(v + 0.5)); };
    res_.set("x-total-time", ms(ms_between(received_, Clock::now())));
    res_.set("x-tokenization-time", ms(r.timings.tokenization_ms));
    res_.set("x-queue-time", ms(r.timings.queue_ms));
    res_.set("x-inference-time", ms(r.timings.inference_ms));
    res_.set("x-compute-tokens", std::to_string(r.timings.tokens));
    // The same stages at microsecond resolution (the x-*-time headers are whole ms, as TEI's).
    char timing[160];
    std::snprintf(timing, sizeof(timing),
                  "tokenize;dur=%.3f, queue;dur=%.3f, inference;dur=%.3f, total;dur=%.3f",
                  r.timings.tokenization_ms, r.timings.queue_ms, r.timings.inference_ms,
                  ms_between(received_, Clock::now()));
    res_.set("server-timing", timing);
    if (state_.options.cache_header && !r.cache.empty()) res_.set("x-cache", r.cache);
    for (auto& [name, value] : r.headers) res_.set(name, value);
    res_.body() = std::move(r.body);
    close_ = close_after || !keep_alive_ || drain_seen_;
    res_.keep_alive(!close_);
    res_.prepare_payload();
    stream_.expires_after(std::chrono::seconds(30));
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      --self->state_.in_flight;
      self->res_ = {};  // an idle connection keeps no answer, and no memory reserved for one
      self->body_memory_.reset();
      self->served = true;
      if (ec) return self->close();
      self->after_write();
    });
  }

  // After an early answer (413, 400) the client may still be sending: stop writing, read and
  // discard for a while, then close, so the client sees the response rather than a reset.
  void linger_close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(2));
    discard();
  }

  void discard() {
    stream_.async_read_some(net::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->close();
                              self->discard();
                            });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  HttpServer::State& state_;
  IoThread& home_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::array<char, 16384> scratch_;
  Clock::time_point received_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool close_ = false;
  bool drain_seen_ = false;  // the drain had begun when this request's headers came
  std::shared_ptr<std::atomic<bool>> gone_;
  MemoryBudget::Hold body_memory_;  // this request's reservation, from its headers on
  bool watching_ = false;
  bool replied_ = false;   // write() began for the request being handled
  bool awaiting_ = false;  // the request went to the router and its answer has not
  After after_ = After::kNone;
};

// Closes up to n connections that wait for a request, to make room at max_connections, the
// longest idle first. While any connection that never sent a request waits (a flood of idle
// connections), only those are shed, so that clients with a request behind them keep theirs;
// none idle for under kMinIdleToShed.
void shed_idle(HttpServer::State& s, size_t n) {
  struct Candidate {
    bool served;
    Clock::rep since;
    IoThread* home;
    std::weak_ptr<Connection> connection;
  };
  std::vector<Candidate> idle;
  bool any_unserved = false;
  for (auto& t : s.io)
    for (const auto& c : t->live())
      if (const auto since = c->idle_since.load(); since != 0) {
        idle.push_back({c->served.load(), since, t.get(), c});
        any_unserved |= !idle.back().served;
      }
  const auto newest = (Clock::now() - kMinIdleToShed).time_since_epoch().count();
  std::erase_if(idle,
                [&](const Candidate& c) { return c.since > newest || (any_unserved && c.served); });
  n = std::min(n, idle.size());
  std::partial_sort(idle.begin(), idle.begin() + static_cast<std::ptrdiff_t>(n), idle.end(),
                    [](const Candidate& a, const Candidate& b) { return a.since < b.since; });
  for (size_t i = 0; i < n; ++i)
    net::post(idle[i].home->ioc, [weak = idle[i].connection] {
      if (auto c = weak.lock()) c->shed_if_idle();
    });
}

bool out_of_descriptors(const beast::error_code& ec) {
  return ec == net::error::no_descriptors ||
         ec == boost::system::errc::too_many_files_open_in_system ||
         ec == net::error::no_buffer_space || ec == net::error::no_memory;
}

void accept_next(HttpServer::State& s);

// Stops accepting for kAcceptPause (new clients wait in the listen queue), then goes on.
void accept_after_pause(HttpServer::State& s) {
  s.accept_pause.expires_after(kAcceptPause);
  s.accept_pause.async_wait([&s](beast::error_code ec) {
    if (!ec && s.acceptor.is_open()) accept_next(s);
  });
}

// Waits for the listening socket to be readable, then accepts what is there, each connection
// straight onto the I/O thread chosen for it at that moment. At max_connections it sheds idle
// connections and pauses; out of descriptors, it refuses what is pending (a fast close for
// those clients) and pauses: the listening socket stays readable, so waiting again at once
// would spin.
void accept_next(HttpServer::State& s) {
  s.acceptor.async_wait(tcp::acceptor::wait_read, [&s](beast::error_code ec) {
    if (!s.acceptor.is_open()) return;  // draining
    if (ec) return accept_after_pause(s);
    for (int i = 0; i < kAcceptBurst; ++i) {
      if (s.open_connections() >= s.max_connections) {
        shed_idle(s, kShedBatch);
        return accept_after_pause(s);
      }
      IoThread& home = s.adopt();
      tcp::socket sock(home.ioc);
      s.acceptor.accept(sock, ec);
      if (ec) {
        home.release();
        if (ec == net::error::would_block || ec == net::error::try_again) break;  // all taken
        if (ec == net::error::connection_aborted || ec == net::error::interrupted) continue;
        if (out_of_descriptors(ec))
          s.reserve.refuse_pending(s.acceptor.native_handle(), kAcceptBurst);
        return accept_after_pause(s);
      }
      // Answers go out in one write; no reason to let Nagle hold back a partial one.
      beast::error_code ignored;
      sock.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Session>(std::move(sock), s, home)->start();
    }
    accept_next(s);
  });
}

// Polls until every in-flight request has been answered (or, after a cut, its 503 is out or
// kCutGrace has passed), then stops the I/O threads (open connections close with them).
void stop_when_idle(HttpServer::State& s) {
  if (s.in_flight == 0 || (s.cut && Clock::now() >= s.cut_deadline)) {
    for (auto& t : s.io) t->ioc.stop();
    return s.control.stop();
  }
  s.drain_timer.expires_after(std::chrono::milliseconds(10));
  s.drain_timer.async_wait([&s](beast::error_code) { stop_when_idle(s); });
}

// Cuts the drain short (control thread): each I/O thread answers 503 to its connections'
// waiting requests and closes the idle ones.
void cut_drain(HttpServer::State& s, int signal) {
  if (s.cut) return;
  s.cut = true;
  s.cut_deadline = Clock::now() + kCutGrace;
  s.outcome.complete = false;
  s.outcome.signal = signal;
  for (auto& t : s.io)
    net::post(t->ioc, [&s, &t = *t] {
      for (const auto& c : t.live())
        if (c->abort()) ++s.unanswered;
    });
}

// Starts the drain (control thread); a no-op when it has begun. The router refuses before
// the flag is up, so a connection that sees the flag is answered 503 (and closed).
void begin_drain(HttpServer::State& s) {
  if (s.draining.load()) return;
  s.router.set_draining();
  s.draining = true;
  beast::error_code ignored;
  s.acceptor.close(ignored);
  s.accept_pause.cancel();
  if (s.options.drain_timeout.count() > 0) {
    s.drain_limit.expires_after(s.options.drain_timeout);
    s.drain_limit.async_wait([&s](beast::error_code ec) {
      if (!ec) cut_drain(s, 0);
    });
  }
  stop_when_idle(s);
}

// The first SIGTERM / SIGINT / SIGHUP drains, the next one cuts the drain short.
void wait_for_signals(HttpServer::State& s) {
  s.signals.async_wait([&s](beast::error_code ec, int signal) {
    if (ec) return;
    if (s.draining) {
      cut_drain(s, signal);
    } else {
      begin_drain(s);
    }
    wait_for_signals(s);
  });
}

}  // namespace

HttpServer::HttpServer(const HttpServerOptions& options, Router& router)
    : state_(std::make_unique<State>(options, router)) {
  auto& s = *state_;
  beast::error_code ec;
  const auto address = net::ip::make_address(options.host, ec);
  EMBER_CHECK(!ec, ErrorKind::kInvalidInput, "--host '", options.host, "' is not an IP address");
  const tcp::endpoint endpoint(address, options.port);
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (!ec) s.acceptor.non_blocking(true, ec);  // accept_next takes what is there, no more
  EMBER_CHECK(!ec, ErrorKind::kUnavailable, "cannot listen on ", options.host, ":", options.port,
              ": ", ec.message());
}

HttpServer::~HttpServer() = default;

uint16_t HttpServer::port() const {
  return state_->acceptor.local_endpoint().port();
}

void HttpServer::drain() {
  auto& s = *state_;
  net::post(s.control, [&s] { begin_drain(s); });
}

DrainOutcome HttpServer::run() {
  auto& s = *state_;
  accept_next(s);
  wait_for_signals(s);
  std::vector<std::thread> threads;
  for (auto& t : s.io)
    threads.emplace_back([&t = *t] {
      InlineGate::set_current(&t);
      t.ioc.run();
    });
  s.control.run();
  for (auto& t : threads) t.join();
  s.outcome.unanswered = s.unanswered;
  return s.outcome;
}

}  // namespace ember::serve
