#include "serve/compute_gate.h"

#include "core/error.h"

namespace ember::serve {

ComputeGate::ComputeGate(int slots) : slots_(slots), free_(slots) {
  EMBER_CHECK(slots > 0, ErrorKind::kInvalidInput, "the compute gate needs at least one slot");
}

ComputeGate::Turn::~Turn() {
  if (gate_) gate_->leave();
}

ComputeGate::Turn ComputeGate::enter() {
  std::unique_lock<std::mutex> lock(mutex_);
  const uint64_t ticket = next_ticket_++;
  changed_.wait(lock, [&] { return ticket == serving_ && free_ > 0; });
  --free_;
  ++serving_;
  lock.unlock();
  changed_.notify_all();  // the next ticket may take another free slot
  return Turn(this);
}

void ComputeGate::leave() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++free_;
  }
  changed_.notify_all();
}

int64_t ComputeGate::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(next_ticket_ - serving_);
}

}  // namespace ember::serve
