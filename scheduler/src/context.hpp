// Context switching between a goroutine stack and an M's scheduler stack.
//
// The only file that talks to Boost.Context (fcontext: a few instructions to
// save callee-saved registers and swap stack pointers) and to the sanitizers'
// fiber APIs (STYLE habit 11). Every switch is wrapped so that ASan knows which
// stack is live (__sanitizer_start/finish_switch_fiber) and TSan knows which
// fiber is running (__tsan_switch_to_fiber); without that both report noise.
//
// Protocol: a switch passes one pointer. g0 -> G passes the M that resumes the
// G; G -> g0 passes nothing. Whoever lands receives the context it came from,
// which is the only valid handle to resume that side later.
#pragma once

#include <cstddef>

namespace skein::detail {

using FContext = void*;

struct Transfer {
  FContext from;  // the context that switched to us; resume it with jump()
  void* data;
};

// Sanitizer bookkeeping for one stack (a goroutine's or an M's own).
struct FiberAnnotations {
  void* asan_fake_stack = nullptr;
  const void* stack_bottom = nullptr;
  std::size_t stack_size = 0;
  void* tsan_fiber = nullptr;
};

// Prepares a fresh context on [stack_lo, stack_top) that will call entry.
FContext make_context(void* stack_top, std::size_t size, void (*entry)(Transfer));

// Switches to `to`, annotating for the sanitizers. `self` describes the stack
// being left (its fake stack is saved there; nullptr when that stack is
// finished for good); `target` the stack being entered.
Transfer jump(FContext to, void* data, FiberAnnotations* self, const FiberAnnotations& target);

// Must be called first thing after landing on a stack (after jump returns or
// at a context's entry). Records the bounds of the stack we came from into
// `from` if it is non-null (used to learn an M's own stack bounds).
void finish_switch(FiberAnnotations* self, FiberAnnotations* from);

// TSan fiber lifetime; no-ops in other builds.
void* tsan_create_fiber();
void tsan_destroy_fiber(void* fiber);
void* tsan_current_fiber();
// Clears ASan poison left on a stack whose frames were abandoned (a finished
// goroutine never unwinds its entry frame); no-op in other builds.
void asan_unpoison(void* lo, std::size_t size);

}  // namespace skein::detail
