// G: one goroutine, and the memory unit it lives in.
//
// A G record sits at the top of its own stack region, with the goroutine's
// closure right below it and the stack growing down from there:
//
//   lo                                                     hi
//   | guard page | ...stack grows down...  | closure | G |
//
// so a parked goroutine's control block, closure and live frames usually share
// one page, and a spawn on a warm P allocates nothing: G and stack are
// recycled together from per-P free lists (StackPool). A unit is created once
// and lives until its Runtime is destroyed; `all_next` links every unit ever
// created, for the dump and stats.
#pragma once

#include <atomic>
#include <cstdint>
#include <source_location>

#include "context.hpp"
#include "skein/detail/park.hpp"

namespace skein::detail {

struct M;
struct P;
class Sched;

// Who owns a G, per state (transitions through G::transition only).
enum class GStatus : std::uint8_t {
  kIdle,      // on a free list; nobody runs it; the stack is free
  kRunnable,  // on a run queue (or runnext, or being handed over); stack not owned by any M
  kRunning,   // an M is executing it; that M owns the stack
  kWaiting,   // parked; owned by whatever wait queue or timer holds it; ready() takes it
  kDead,      // finished; about to go to a free list
};
const char* gstatus_name(GStatus s);

struct alignas(64) G {
  // Immutable after the unit is created.
  Sched* sched = nullptr;
  void* stack_lo = nullptr;    // lowest usable byte (just above the guard)
  std::size_t stack_size = 0;  // bytes from stack_lo to this G record
  bool guarded = false;        // a PROT_NONE guard page sits right below stack_lo
  G* all_next = nullptr;       // every unit of this Sched; guarded by Sched::all_mu_

  // Per goroutine; written while Idle/Dead by the M that (re)creates it.
  std::uint64_t id = 0;
  FContext ctx = nullptr;  // saved context while not running; valid in kRunnable/kWaiting
  void (*invoke)(void*) = nullptr;
  void* closure = nullptr;
  std::source_location site;
  FiberAnnotations fiber;

  std::atomic<GStatus> status{GStatus::kIdle};
  // Wait bookkeeping, written by the G itself before it parks, read by dumps.
  std::atomic<WaitReason> wait_reason{WaitReason::kNone};
  std::atomic<std::int64_t> wait_since_ns{0};
  bool park_external = true;  // counts toward deadlock detection (see park.hpp)
  std::int64_t ready_ns = 0;  // sampled: when it became runnable (latency histogram)

  // A thread that is not a goroutine but waits on a Skein primitive gets a
  // stand-in G (see park.cpp): park() blocks the thread on wake_word (futex)
  // and ready() wakes it. Such a G is never on a run queue.
  bool foreign_thread = false;
  std::atomic<std::uint32_t> wake_word{0};

  // Checked transition (STYLE habit 4); fatal on an unexpected `from`. Used
  // where two threads may race on the status (ready(): a double wake-up must
  // be caught, not run a goroutine twice).
  void transition(GStatus from, GStatus to);

  // A transition only the G's current owner can make: nobody else writes the
  // status while it is `from`. A release store on the hot path (every context
  // switch makes two), the checked CAS in debug builds.
  void set_owned(GStatus from, GStatus to) {
#ifndef NDEBUG
    transition(from, to);
#else
    (void)from;
    status.store(to, std::memory_order_release);
#endif
  }
};

}  // namespace skein::detail
