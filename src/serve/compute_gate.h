// Shares the machine's cores among the models of one server: each model's batcher enters the
// gate before it computes a batch and leaves after, at most `slots` batches compute at once,
// and batches are let in first come, first served. Each batcher has at most one batch waiting,
// so a model flooded with requests gets one turn in each round and cannot starve another.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace ember::serve {

class ComputeGate {
 public:
  explicit ComputeGate(int slots);

  // Held while one batch computes; leaves the gate when destroyed.
  class Turn {
   public:
    Turn(Turn&& other) noexcept : gate_(other.gate_) { other.gate_ = nullptr; }
    Turn& operator=(Turn&&) = delete;
    ~Turn();

   private:
    friend class ComputeGate;
    explicit Turn(ComputeGate* gate) : gate_(gate) {}
    ComputeGate* gate_;
  };

  // Blocks until a slot is free and every batch that asked earlier got one.
  Turn enter();
  int slots() const { return slots_; }
  int64_t waiting() const;

 private:
  void leave();

  const int slots_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int free_;
  uint64_t next_ticket_ = 0, serving_ = 0;
};

}  // namespace ember::serve
