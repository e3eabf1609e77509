// LargeRequestPool: a few threads for the requests whose parsing, tokenization or answer
// formatting take long (large bodies, /embed_all), so that they never hold an HTTP I/O thread:
// every other connection on that thread would wait behind them. Tasks run in arrival order;
// what they may hold is bounded by the memory budget, since each holds its request's
// reservation while it waits. The pool's threads never compute a batch inline (their
// InlineGate refuses): the scheduler thread does.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ember::serve {

class LargeRequestPool {
 public:
  explicit LargeRequestPool(int threads);
  ~LargeRequestPool();  // stop()
  // Runs what is queued, then joins. Tasks posted afterwards (completions of requests the
  // batcher drains at shutdown) run on the posting thread. Idempotent.
  void stop();
  LargeRequestPool(const LargeRequestPool&) = delete;
  LargeRequestPool& operator=(const LargeRequestPool&) = delete;

  void post(std::function<void()> task);  // thread-safe; a task must not throw
  size_t queued() const;

 private:
  void loop();
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  bool stopped_ = false;  // joined: post() runs tasks itself
  std::vector<std::thread> threads_;
};

}  // namespace ember::serve
