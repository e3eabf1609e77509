#include "serve/inline_gate.h"

namespace ember::serve {

namespace {
thread_local InlineGate* t_gate = nullptr;
}  // namespace

InlineGate* InlineGate::current() noexcept {
  return t_gate;
}

void InlineGate::set_current(InlineGate* gate) noexcept {
  t_gate = gate;
}

}  // namespace ember::serve
