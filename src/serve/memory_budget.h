// MemoryBudget: the bytes that requests in flight may hold together (what --max-memory leaves
// after the model, the compute workspace and the result cache). Every request reserves its
// cost before the work that needs it starts, from the first header (its body) to the last
// byte of its answer written, and gives it back when done; a request that does not fit is
// refused at once (429 while others hold the memory, 413 when it could never fit), so the
// process never grows past the budget, whatever clients send.
//
// Two lanes keep a few large requests from locking small ones out: requests over
// small_request_bytes may hold at most 3/4 of the capacity together, and bodies still being
// received over small_body_bytes at most max_pending_body_bytes. A small request always finds
// the last quarter.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace ember::serve {

struct MemoryBudgetOptions {
  int64_t capacity = int64_t{1} << 30;         // bytes requests may hold together
  int64_t max_pending_body_bytes = 256 << 20;  // large bodies being received, together
  int64_t small_request_bytes = 4 << 20;       // up to this: may use the whole capacity
  int64_t small_body_bytes = 64 << 10;         // up to this: not in the pending-body lane
};

class MemoryBudget {
 public:
  class Reservation;
  using Hold = std::shared_ptr<Reservation>;

  explicit MemoryBudget(MemoryBudgetOptions options);
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // A reservation for a request body still being received (its Content-Length, or the payload
  // limit when the length is not announced). Throws HttpError 429 / 413 when it does not fit.
  Hold reserve_body(int64_t bytes);
  // A reservation for work that has no body (a gRPC message already received, tests).
  Hold reserve(int64_t bytes, const std::string& what);

  int64_t capacity() const { return options_.capacity; }
  // The most one request may hold (413 above): the large lane's share.
  int64_t max_request_bytes() const { return options_.capacity / 4 * 3; }
  int64_t in_use() const;
  int64_t peak() const;
  int64_t pending_body_bytes() const;
  uint64_t refused() const;

  // Called (outside the lock) after a release of at least `min_bytes`: the allocator trimmer.
  void on_large_release(int64_t min_bytes, std::function<void()> fn);

 private:
  friend class Reservation;
  // Moves a reservation from `from` to `to` bytes; throws HttpError when growing does not fit.
  void change(int64_t from, int64_t to, bool body, const std::string& what);
  void release(int64_t bytes, bool body) noexcept;
  void end_body(int64_t bytes) noexcept;  // the body lane's share of a reservation, dropped

  const MemoryBudgetOptions options_;
  mutable std::mutex mutex_;
  int64_t in_use_ = 0;
  int64_t large_in_use_ = 0;  // reservations over small_request_bytes, summed
  int64_t pending_body_ = 0;  // body reservations over small_body_bytes, summed
  int64_t peak_ = 0;
  uint64_t refused_ = 0;
  int64_t release_threshold_ = 0;
  std::function<void()> on_release_;
};

// One request's share of the budget; released when the last holder lets go.
class MemoryBudget::Reservation {
 public:
  Reservation(MemoryBudget& budget, bool body) : budget_(budget), body_(body) {}
  ~Reservation() { budget_.release(bytes_, body_); }
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;

  // Grows or shrinks to `bytes` (the request's cost from now on). Growing throws HttpError 429
  // (does not fit now) or 413 (could never fit), naming `what` needs the memory.
  void resize(int64_t bytes, const std::string& what);
  // The body has been received: it leaves the pending-body lane (its bytes stay reserved).
  void end_body();
  // What the request holds once its handler has returned (the parsed body freed): settle()
  // shrinks to it. A route sets it when it knows (the queued inputs and their answer).
  void hold_after_handler(int64_t bytes) {
    std::lock_guard lock(mutex_);
    after_handler_ = bytes;
  }
  void settle();
  int64_t bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
  }

 private:
  friend class MemoryBudget;
  void resize_locked(int64_t bytes, const std::string& what);
  MemoryBudget& budget_;
  // A request parked for its model's load resumes on another thread, possibly while the
  // handler that parked it settles (served_model.cc): each call is one step.
  mutable std::mutex mutex_;
  int64_t bytes_ = 0;
  int64_t after_handler_ = -1;
  bool body_;
};

// Bytes as "12.3 MiB" for messages.
std::string mib(int64_t bytes);

}  // namespace ember::serve
