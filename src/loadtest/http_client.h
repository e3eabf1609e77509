// The load generator's HTTP/1.1 client: one keep-alive connection per simulated user (or per
// open-loop slot), all driven by one Asio io_context, so thousands of requests in flight cost
// no threads. A connection the server closed is reopened once and the request retried.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace ember::loadtest {

using Clock = std::chrono::steady_clock;

struct Url {
  std::string host;
  std::string port = "80";
  std::string prefix;  // path before the route, without a trailing '/'
};

// http://HOST[:PORT][/PREFIX]; anything else (https, no host, bad port) is kInvalidInput.
Url parse_url(const std::string& url);

struct HttpResult {
  int status = 0;                   // 0: no HTTP answer (connect/read/write failure, timeout)
  double latency_ms = 0;            // from the request's start time to the last byte of the answer
  double server_total_ms = -1;      // Server-Timing total;dur, -1 if absent
  double server_inference_ms = -1;  // Server-Timing inference;dur
  bool cache_hit = false;           // x-cache: hit
  std::string body;
  std::string error;  // transport error text when status == 0
};

struct RequestSpec {
  std::string method = "POST";
  std::string target;  // path, prefix included
  std::string body;
  std::string api_key;  // sent as Authorization: Bearer
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Done = std::function<void(HttpResult)>;
  Connection(boost::asio::io_context& ioc, boost::asio::ip::tcp::resolver::results_type endpoints,
             std::string host, std::chrono::milliseconds timeout);
  ~Connection();
  // One request at a time; `start` is when the request counts as sent (the scheduled time in
  // open loop, so queueing before the send is latency too). done runs on the io thread.
  void send(std::shared_ptr<const RequestSpec> spec, Clock::time_point start, Done done);
  void close();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Resolves host:port once (kUnavailable if it cannot).
boost::asio::ip::tcp::resolver::results_type resolve(boost::asio::io_context& ioc, const Url& url);

// One blocking request on a fresh io_context (health checks, /tokenize, /info).
HttpResult fetch_once(const Url& url, const RequestSpec& spec, std::chrono::milliseconds timeout);

}  // namespace ember::loadtest
