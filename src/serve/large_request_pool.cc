#include "serve/large_request_pool.h"

#include <algorithm>

#include "serve/inline_gate.h"

namespace ember::serve {
namespace {

struct NeverInline final : InlineGate {
  bool try_enter() noexcept override { return false; }
  void leave() noexcept override {}
};

}  // namespace

LargeRequestPool::LargeRequestPool(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { loop(); });
}

LargeRequestPool::~LargeRequestPool() {
  stop();
}

void LargeRequestPool::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  std::deque<std::function<void()>> late;  // posted while the threads were ending
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    late.swap(tasks_);
  }
  for (auto& task : late) task();
}

void LargeRequestPool::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (!stopped_) {
      tasks_.push_back(std::move(task));
      cv_.notify_one();
      return;
    }
  }
  task();
}

size_t LargeRequestPool::queued() const {
  std::lock_guard lock(mutex_);
  return tasks_.size();
}

void LargeRequestPool::loop() {
  static NeverInline never;
  InlineGate::set_current(&never);
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stopping, and everything queued has run
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    task = nullptr;  // what it captured is released before the next wait
    lock.lock();
  }
}

}  // namespace ember::serve
