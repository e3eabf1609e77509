#include "loadtest/http_client.h"

#include <cstdlib>
#include <optional>
#include <regex>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "core/error.h"

namespace ember::loadtest {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

Url parse_url(const std::string& url) {
  static const std::regex re(
      R"(^http://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]+)(:([0-9]{1,5}))?(/.*)?$)");
  std::smatch m;
  EMBER_CHECK(std::regex_match(url, m, re), ErrorKind::kInvalidInput, "URL '", url,
              "' is not http://HOST[:PORT][/PATH] (https is not supported)");
  Url u;
  u.host = m[1].str();
  if (u.host.front() == '[') u.host = u.host.substr(1, u.host.size() - 2);
  if (m[3].matched) {
    const long port = std::strtol(m[3].str().c_str(), nullptr, 10);
    EMBER_CHECK(port > 0 && port <= 65535, ErrorKind::kInvalidInput, "URL '", url, "': port ", port,
                " is not a TCP port");
    u.port = m[3].str();
  }
  u.prefix = m[4].str();
  while (!u.prefix.empty() && u.prefix.back() == '/') u.prefix.pop_back();
  return u;
}

tcp::resolver::results_type resolve(net::io_context& ioc, const Url& url) {
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto r = resolver.resolve(url.host, url.port, ec);
  EMBER_CHECK(!ec, ErrorKind::kUnavailable, "cannot resolve ", url.host, ":", url.port, ": ",
              ec.message());
  return r;
}

namespace {

// Server-Timing: "tokenize;dur=0.012, queue;dur=0.003, inference;dur=0.410, total;dur=0.5".
double timing_of(std::string_view header, std::string_view name) {
  const std::string key = std::string(name) + ";dur=";
  const auto at = header.find(key);
  if (at == std::string_view::npos) return -1;
  return std::strtod(std::string(header.substr(at + key.size(), 32)).c_str(), nullptr);
}

}  // namespace

struct Connection::Impl : std::enable_shared_from_this<Connection::Impl> {
  beast::tcp_stream stream;
  tcp::resolver::results_type endpoints;
  std::string host;
  std::chrono::milliseconds timeout;
  bool connected = false;
  bool retried = false;
  beast::flat_buffer buffer;
  http::request<http::string_body> req;
  std::optional<http::response_parser<http::string_body>> parser;
  Clock::time_point start;
  Done done;

  Impl(net::io_context& ioc, tcp::resolver::results_type e, std::string h,
       std::chrono::milliseconds t)
      : stream(ioc), endpoints(std::move(e)), host(std::move(h)), timeout(t) {
    // Beast reads at most the buffer's free capacity (512 bytes at first): without room, a
    // 5 KB answer takes ten reads, each a recvmsg, an epoll_wait and a timer re-arm.
    buffer.reserve(64 << 10);
  }

  void finish(HttpResult r) {
    r.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    auto d = std::move(done);
    done = nullptr;
    if (d) d(std::move(r));
  }

  void fail(beast::error_code ec) {
    const bool was_connected = connected;
    reset();
    // A keep-alive connection the server closed while idle: reopen once and resend.
    if (was_connected && !retried) {
      retried = true;
      return go();
    }
    HttpResult r;
    r.error = ec.message();
    finish(std::move(r));
  }

  void reset() {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
    connected = false;
    buffer.clear();
  }

  void go() {
    stream.expires_after(timeout);
    if (connected) return write();
    stream.async_connect(endpoints,
                         [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
                           if (ec) {
                             HttpResult r;
                             r.error = "connect: " + ec.message();
                             self->reset();
                             return self->finish(std::move(r));
                           }
                           beast::error_code ignored;
                           self->stream.socket().set_option(tcp::no_delay(true), ignored);
                           self->connected = true;
                           self->retried = true;  // a fresh connection is not retried
                           self->write();
                         });
  }

  void write() {
    http::async_write(stream, req, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->fail(ec);
      self->parser.emplace();
      self->parser->body_limit(256 << 20);
      http::async_read(self->stream, self->buffer, *self->parser,
                       [self](beast::error_code rec, size_t) { self->on_read(rec); });
    });
  }

  void on_read(beast::error_code ec) {
    if (ec) return fail(ec);
    auto& res = parser->get();
    HttpResult r;
    r.status = static_cast<int>(res.result_int());
    const auto field = res["server-timing"];
    const std::string_view timing(field.data(), field.size());
    r.server_total_ms = timing_of(timing, "total");
    r.server_inference_ms = timing_of(timing, "inference");
    r.cache_hit = res["x-cache"] == "hit";
    r.body = std::move(res.body());
    if (!res.keep_alive()) reset();
    finish(std::move(r));
  }
};

Connection::Connection(net::io_context& ioc, tcp::resolver::results_type endpoints,
                       std::string host, std::chrono::milliseconds timeout)
    : impl_(std::make_shared<Impl>(ioc, std::move(endpoints), std::move(host), timeout)) {}

Connection::~Connection() = default;

void Connection::send(std::shared_ptr<const RequestSpec> spec, Clock::time_point start, Done done) {
  auto& s = *impl_;
  s.req = {};
  s.req.method_string(spec->method);
  s.req.target(spec->target);
  s.req.version(11);
  s.req.set(http::field::host, s.host);
  s.req.set(http::field::user_agent, "ember-loadtest");
  if (!spec->api_key.empty()) s.req.set(http::field::authorization, "Bearer " + spec->api_key);
  if (!spec->body.empty() || spec->method == "POST") {
    s.req.set(http::field::content_type, "application/json");
    s.req.body() = spec->body;
  }
  s.req.keep_alive(true);
  s.req.prepare_payload();
  s.start = start;
  s.done = std::move(done);
  s.retried = !s.connected;
  s.go();
}

void Connection::close() {
  impl_->reset();
}

HttpResult fetch_once(const Url& url, const RequestSpec& spec, std::chrono::milliseconds timeout) {
  net::io_context ioc;
  auto endpoints = resolve(ioc, url);
  Connection c(ioc, endpoints, url.host, timeout);
  HttpResult out;
  c.send(std::make_shared<RequestSpec>(spec), Clock::now(),
         [&out](HttpResult r) { out = std::move(r); });
  ioc.run();
  c.close();
  return out;
}

}  // namespace ember::loadtest
