// InlineGate: whether the calling thread may run a batch inline right now (TokenBudgetBatcher
// with run_inline_when_idle). An HTTP I/O thread owns its connections for life; while it
// computes, every other connection it owns waits, so it may compute only while it serves the
// submitting connection alone, and must then take no new one until it is done. Its gate says
// so. A thread without a gate (gRPC, tests) may always run inline.
#pragma once

namespace ember::serve {

class InlineGate {
 public:
  virtual ~InlineGate() = default;
  // True: the caller runs the batch now and calls leave() when it is done.
  virtual bool try_enter() noexcept = 0;
  virtual void leave() noexcept = 0;

  // The calling thread's gate (null: none). Set once by the thread that owns it.
  static InlineGate* current() noexcept;
  static void set_current(InlineGate* gate) noexcept;
};

}  // namespace ember::serve
