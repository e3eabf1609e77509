#include "serve/memory_budget.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "serve/errors.h"

namespace ember::serve {

std::string mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

MemoryBudget::MemoryBudget(MemoryBudgetOptions options) : options_(options) {
  EMBER_CHECK(options_.capacity > 0 && options_.max_pending_body_bytes > 0 &&
                  options_.small_request_bytes >= 0 && options_.small_body_bytes >= 0,
              ErrorKind::kInvalidInput, "memory budget limits must be positive");
}

MemoryBudget::Hold MemoryBudget::reserve_body(int64_t bytes) {
  auto r = std::make_shared<Reservation>(*this, /*body=*/true);
  r->resize(bytes, "the request body");
  return r;
}

MemoryBudget::Hold MemoryBudget::reserve(int64_t bytes, const std::string& what) {
  auto r = std::make_shared<Reservation>(*this, /*body=*/false);
  r->resize(bytes, what);
  return r;
}

int64_t MemoryBudget::in_use() const {
  std::lock_guard lock(mutex_);
  return in_use_;
}

int64_t MemoryBudget::peak() const {
  std::lock_guard lock(mutex_);
  return peak_;
}

int64_t MemoryBudget::pending_body_bytes() const {
  std::lock_guard lock(mutex_);
  return pending_body_;
}

uint64_t MemoryBudget::refused() const {
  std::lock_guard lock(mutex_);
  return refused_;
}

void MemoryBudget::on_large_release(int64_t min_bytes, std::function<void()> fn) {
  std::lock_guard lock(mutex_);
  release_threshold_ = min_bytes;
  on_release_ = std::move(fn);
}

void MemoryBudget::change(int64_t from, int64_t to, bool body, const std::string& what) {
  const auto large = [this](int64_t b) { return b > options_.small_request_bytes ? b : 0; };
  const auto large_body = [this, body](int64_t b) {
    return body && b > options_.small_body_bytes ? b : 0;
  };
  std::lock_guard lock(mutex_);
  if (to > from) {
    const int64_t lane = max_request_bytes();
    if (to > lane) {
      ++refused_;
      throw HttpError(413, error_type::kValidation,
                      cat(what, " needs about ", mib(to),
                          " of server memory, more than one request may hold (", mib(lane),
                          ": 3/4 of what --max-memory leaves for requests); send fewer or "
                          "shorter inputs"));
    }
    struct Lane {
      const char* name;
      int64_t held, after, limit;
    };
    const Lane lanes[] = {
        {"requests in flight", in_use_, in_use_ + to - from, options_.capacity},
        {"large requests in flight", large_in_use_, large_in_use_ + large(to) - large(from), lane},
        {"request bodies being received", pending_body_,
         pending_body_ + large_body(to) - large_body(from), options_.max_pending_body_bytes}};
    for (const auto& l : lanes) {
      if (l.after <= l.limit || l.after <= l.held) continue;
      ++refused_;
      throw HttpError(
          429, error_type::kOverloaded,
          cat("server memory is busy: ", what, " needs about ", mib(to), " and ", l.name, " hold ",
              mib(l.held), " of their ", mib(l.limit), " (--max-memory); retry later"));
    }
  }
  in_use_ += to - from;
  large_in_use_ += large(to) - large(from);
  pending_body_ += large_body(to) - large_body(from);
  peak_ = std::max(peak_, in_use_);
}

void MemoryBudget::end_body(int64_t bytes) noexcept {
  std::lock_guard lock(mutex_);
  if (bytes > options_.small_body_bytes) pending_body_ -= bytes;
}

void MemoryBudget::release(int64_t bytes, bool body) noexcept {
  std::function<void()> notify;
  {
    std::lock_guard lock(mutex_);
    in_use_ -= bytes;
    if (bytes > options_.small_request_bytes) large_in_use_ -= bytes;
    if (body && bytes > options_.small_body_bytes) pending_body_ -= bytes;
    if (on_release_ && release_threshold_ > 0 && bytes >= release_threshold_) notify = on_release_;
  }
  if (notify) notify();
}

void MemoryBudget::Reservation::resize(int64_t bytes, const std::string& what) {
  std::lock_guard lock(mutex_);
  resize_locked(bytes, what);
}

void MemoryBudget::Reservation::resize_locked(int64_t bytes, const std::string& what) {
  bytes = std::max<int64_t>(bytes, 0);
  budget_.change(bytes_, bytes, body_, what);
  bytes_ = bytes;
}

void MemoryBudget::Reservation::settle() {
  std::lock_guard lock(mutex_);
  if (after_handler_ >= 0 && after_handler_ < bytes_) resize_locked(after_handler_, "");
}

void MemoryBudget::Reservation::end_body() {
  std::lock_guard lock(mutex_);
  if (!body_) return;
  budget_.end_body(bytes_);
  body_ = false;
}

}  // namespace ember::serve
