// Goroutine stacks: carved from large slabs, guarded, pooled per P.
//
// One mmap per stack with a guard page costs two kernel mappings (VMAs), and
// vm.max_map_count (65530 by default) would cap a process near 32k goroutines.
// So stacks are carved from slabs of kSlabUnits units; each unit is
// [guard page | usable stack | closure | G]. Protecting a unit's guard page
// splits the slab's mapping, so guard pages are given while a process-wide
// budget of mappings lasts (a quarter of max_map_count); past it, a unit's
// lowest kCanaryBytes form a no-write zone that must stay zero, checked each
// time its goroutine switches out. The zone is never written by us: reading
// an untouched anonymous page maps the shared zero page, which costs no RSS,
// so a parked goroutine still owns one resident page. A guard-page hit is
// caught by a SIGSEGV handler on an alternate signal stack and reported as
// "stack overflow in goroutine N". See docs/scheduler.md, "Stacks".
//
// Memory is MAP_NORESERVE and committed lazily by the kernel: a goroutine that
// only parks touches the one page holding its G, closure and a few frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "g.hpp"

namespace skein::detail {

inline constexpr std::size_t kPageSize = 4096;
// Units per slab: large enough that slab mmaps are rare, small enough that a
// runtime with a handful of goroutines does not reserve much address space.
inline constexpr std::size_t kSlabUnits = 64;
inline constexpr std::size_t kCanaryBytes = 32;
inline constexpr std::size_t kSlabsPerSample = 256;

// Owns the slabs of one runtime. Thread-safe (a mutex; the per-P caches in
// P::free_gs keep it off the hot path).
class StackArena {
 public:
  StackArena(std::size_t stack_size, bool guard_pages);
  ~StackArena();
  StackArena(const StackArena&) = delete;
  StackArena& operator=(const StackArena&) = delete;

  // A brand-new unit with its G constructed (status kIdle).
  G* new_unit(Sched* sched);

  std::size_t unit_size() const { return unit_size_; }
  std::int64_t reserved_bytes() const;
  // Resident bytes of all slabs (mincore). Each call measures at most
  // kSlabsPerSample slabs, round robin, and reports the latest measurement
  // of every slab: exact up to that many slabs (16 Ki goroutine stacks of
  // 256 KiB), a rolling estimate beyond, at a bounded cost per call.
  std::int64_t resident_bytes() const;

  // True if addr is inside the guard page (or the canary area) of g's stack.
  static bool in_guard(const G* g, const void* addr);
  // False if an unguarded stack's no-write zone was written.
  static bool canary_ok(const G* g) {
    if (g->guarded) {
      return true;
    }
    const auto* zone = static_cast<const volatile std::uint64_t*>(g->stack_lo);
    std::uint64_t any = 0;
    for (std::size_t i = 0; i < kCanaryBytes / sizeof(std::uint64_t); ++i) {
      any |= zone[i];
    }
    return any == 0;
  }

 private:
  std::size_t stack_size_;
  std::size_t unit_size_;
  bool guard_pages_;
  mutable std::mutex mu_;
  std::vector<void*> slabs_;  // guarded by mu_
  // resident_bytes()'s rolling measurement: one entry per slab (same index),
  // and the next slab to measure. Guarded by mu_.
  mutable std::vector<std::int64_t> slab_resident_;
  mutable std::size_t scan_cursor_ = 0;
  std::size_t next_in_slab_ = kSlabUnits;  // guarded by mu_
};

// Installs the process-wide SIGSEGV/SIGBUS handler once, and gives the
// calling thread an alternate signal stack (each M calls this); returns the
// stack for remove_alt_stack when the thread exits.
void* install_overflow_handler_on_this_thread();
void remove_alt_stack(void* alt_stack);

}  // namespace skein::detail
