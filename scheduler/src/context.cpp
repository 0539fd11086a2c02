#include "context.hpp"

#include <boost/context/detail/fcontext.hpp>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define SKEIN_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define SKEIN_TSAN 1
#endif

namespace skein::detail {

namespace bctx = boost::context::detail;

FContext make_context(void* stack_top, std::size_t size, void (*entry)(Transfer)) {
  // fcontext entry functions take bctx::transfer_t, which is layout-identical
  // to Transfer; the cast avoids a per-goroutine trampoline.
  static_assert(sizeof(bctx::transfer_t) == sizeof(Transfer));
  // Through void(*)(): the one function type the cast-function-type warning
  // accepts as a generic function pointer.
  auto generic = reinterpret_cast<void (*)()>(entry);
  return bctx::make_fcontext(stack_top, size,
                             reinterpret_cast<void (*)(bctx::transfer_t)>(generic));
}

Transfer jump(FContext to, void* data, FiberAnnotations* self, const FiberAnnotations& target) {
#if SKEIN_ASAN
  __sanitizer_start_switch_fiber(self != nullptr ? &self->asan_fake_stack : nullptr,
                                 target.stack_bottom, target.stack_size);
#endif
#if SKEIN_TSAN
  __tsan_switch_to_fiber(target.tsan_fiber, 0);
#endif
  (void)self;
  (void)target;
  bctx::transfer_t t = bctx::jump_fcontext(to, data);
  return Transfer{t.fctx, t.data};
}

void finish_switch(FiberAnnotations* self, FiberAnnotations* from) {
#if SKEIN_ASAN
  const void* bottom = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(self != nullptr ? self->asan_fake_stack : nullptr, &bottom,
                                  &size);
  if (from != nullptr && from->stack_bottom == nullptr) {
    from->stack_bottom = bottom;
    from->stack_size = size;
  }
#else
  (void)self;
  (void)from;
#endif
}

void* tsan_create_fiber() {
#if SKEIN_TSAN
  return __tsan_create_fiber(0);
#else
  return nullptr;
#endif
}

void tsan_destroy_fiber(void* fiber) {
#if SKEIN_TSAN
  if (fiber != nullptr) {
    __tsan_destroy_fiber(fiber);
  }
#else
  (void)fiber;
#endif
}

void* tsan_current_fiber() {
#if SKEIN_TSAN
  return __tsan_get_current_fiber();
#else
  return nullptr;
#endif
}

void asan_unpoison(void* lo, std::size_t size) {
#if SKEIN_ASAN
  __asan_unpoison_memory_region(lo, size);
#else
  (void)lo;
  (void)size;
#endif
}

}  // namespace skein::detail
