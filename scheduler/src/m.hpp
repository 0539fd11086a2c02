// M: an OS thread that runs goroutines while it holds a P (Go's M).
//
// Each M runs the scheduler loop on its own thread stack ("g0") and switches
// into goroutines from there; every goroutine switch goes G -> g0 -> G', and a
// goroutine that parks tells g0 what to do after the switch through `action`
// (so a wait queue's lock is released only once the G's context is saved).
// An M without work gives its P back and sleeps on `note` (a futex), optionally
// until the earliest timer; it is woken with a P handed over in `nextp`.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "context.hpp"
#include "g.hpp"

namespace skein::detail {

struct P;
class Sched;

// One-shot wake-up flag on a futex (Go's note). sleep() returns true if woken,
// false on timeout. clear() re-arms it; only the sleeper clears.
class Note {
 public:
  void wakeup() noexcept;
  bool sleep(std::int64_t timeout_ns) noexcept;  // < 0: no timeout
  void clear() noexcept { key_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<std::uint32_t> key_{0};
};

enum class MAction : std::uint8_t {
  kNone,
  kPark,         // curg parks; run unlock_fn(unlock_arg) on g0
  kYield,        // curg goes to the back of the local run queue
  kYieldGlobal,  // curg goes to the back of the global run queue
  kExit,         // curg finished; recycle its unit
  kBlockingNoP,  // curg returned from blocking() but lost its P: requeue it
};

struct M {
  int id = 0;
  Sched* sched = nullptr;
  std::thread thread;

  // Owner (this thread) only.
  FContext g0_ctx = nullptr;  // g0's saved context while a goroutine runs
  FiberAnnotations g0_fiber;
  G* curg = nullptr;
  P* p = nullptr;
  bool spinning = false;  // mirrored in Sched::nmspinning_
  MAction action = MAction::kNone;
  void (*unlock_fn)(void*) = nullptr;
  void* unlock_arg = nullptr;
  void* alt_stack = nullptr;
  // Set while firing a batch of expired timers: goroutines they wake join the
  // run queue tail in deadline order instead of each displacing the last
  // from runnext (which would run a batch in reverse).
  bool firing_timers = false;
  std::uint32_t rand_state = 0;

  // Guarded by Sched::mu_.
  P* nextp = nullptr;  // the P handed over by whoever woke us
  bool next_spinning = false;
  M* idle_link = nullptr;
  bool idle = false;
  bool waking = false;  // counted in Sched::nmwaking_
  bool idling = false;  // counted in Sched::nmidling_

  Note note;
  std::atomic<bool> in_netpoll{false};  // sleeping in the netpoller, not on note

  std::uint32_t fastrand() noexcept {
    // xorshift32: cheap and good enough for victim choice.
    std::uint32_t x = rand_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rand_state = x;
    return x;
  }
};

}  // namespace skein::detail
