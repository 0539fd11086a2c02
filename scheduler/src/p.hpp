// P: a processor, the right to run goroutines (Go's P; GOMAXPROCS of them).
//
// An M must hold a P to run Go code; a P owns a local run queue, a `runnext`
// slot for the goroutine that should run next (a freshly spawned or freshly
// woken one, so producer/consumer pairs stay on one warm core), a timer heap,
// a cache of free G units and goroutine ids, and its statistics counters.
// Fields are owner-only unless marked: "owner" is the M currently holding P.
#pragma once

#include <atomic>
#include <cstdint>

#include "runq.hpp"
#include "timer_heap.hpp"

namespace skein::detail {

struct M;
class Sched;

// A statistics counter written only by its owner and read by anyone: a plain
// load+store instead of a locked read-modify-write (STYLE habit 16).
struct OwnerCounter {
  std::atomic<std::uint64_t> v{0};
  void add(std::uint64_t n = 1) noexcept {
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return v.load(std::memory_order_relaxed); }
};

inline constexpr int kLatencyBuckets = 40;  // 2^0 .. 2^39 ns (~9 minutes)
inline constexpr std::uint32_t kMaxFreeGs =
    64;  // free G units cached per P  // 2^0 .. 2^39 ns (~9 minutes)

// Who holds a P. kSyscall: its M is inside skein::blocking(fn) and still
// holds it, but sysmon may take it away (CAS kSyscall -> kIdle) and hand it to
// another M; the blocked M then has to find a new P when fn returns.
enum class PStatus : std::uint8_t { kIdle, kRunning, kSyscall };

struct alignas(64) P {
  int id = 0;
  Sched* sched = nullptr;
  std::atomic<PStatus> status{PStatus::kIdle};

  RunQueue runq;                     // see runq.hpp for who may touch what
  std::atomic<G*> runnext{nullptr};  // owner sets; thieves may take it by exchange
  TimerHeap timers;                  // own lock; any thread

  // Owner only.
  std::uint32_t schedtick = 0;       // goroutines scheduled; drives the fairness check
  std::uint32_t runnext_streak = 0;  // consecutive runnext picks; bounded for fairness
  G* free_gs[kMaxFreeGs] = {};       // cached idle G units (with their stacks)
  std::uint32_t n_free = 0;
  std::uint64_t id_next = 0;  // cached goroutine ids [id_next, id_end)
  std::uint64_t id_end = 0;
  std::uint32_t ready_sample = 0;  // 1-in-64 sampling of scheduling latency

  // Guarded by Sched::mu_.
  P* idle_link = nullptr;
  bool idle = true;

  // Statistics: owner-written, read by snapshots.
  OwnerCounter spawned, finished, switches, steals, stolen, parks, unparks;
  OwnerCounter blocking_calls;  // also sysmon's "same blocking call?" witness
  OwnerCounter latency[kLatencyBuckets];
};

}  // namespace skein::detail
