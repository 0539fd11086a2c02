// sysmon: the monitor thread of a runtime (Go's sysmon), and SIGQUIT.
//
// It runs without a P, wakes every 20 us while the runtime is busy (backing
// off to 10 ms when nothing happens) and sleeps indefinitely while every P is
// idle, so an idle runtime costs nothing. Each round it
//  - retakes Ps whose M has been inside skein::blocking(fn) for a whole round,
//    and hands them to another M, so a blocking call never idles a P;
//  - counts goroutines seen running for more than 10 ms without reaching a
//    scheduling point (SchedStats::long_running): there is no preemption,
//    and a goroutine that never yields holds its P;
//  - serves SIGQUIT: prints every runtime's goroutine dump and exits 2.
#include <signal.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>

#include "panic.hpp"
#include "sched.hpp"

namespace skein::detail {

namespace {

constexpr std::int64_t kMinDelayNs = 20'000;         // proc.go: 20 us
constexpr std::int64_t kMaxDelayNs = 10'000'000;     // and at most 10 ms
constexpr std::int64_t kLongRunningNs = 10'000'000;  // issue 3: "more than 10 ms"
constexpr std::int64_t kIdleBlockingRetakeNs = 10'000'000;

// Async-signal-safe registry: the handler only reads these slots.
constexpr int kMaxScheds = 64;
std::array<std::atomic<Sched*>, kMaxScheds> g_scheds{};
std::atomic<int> g_sigquit{0};  // 0 none, 1 requested, 2 being served

void sigquit_handler(int) {
  g_sigquit.store(1, std::memory_order_release);
  for (auto& slot : g_scheds) {
    if (Sched* s = slot.load(std::memory_order_acquire)) {
      s->sysmon_note().wakeup();  // a futex wake: async-signal-safe
    }
  }
}

}  // namespace

void register_for_sigquit(Sched* s) {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = sigquit_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ::sigaction(SIGQUIT, &sa, nullptr);
  });
  for (auto& slot : g_scheds) {
    Sched* expected = nullptr;
    if (slot.compare_exchange_strong(expected, s)) {
      return;
    }
  }
  // More than kMaxScheds live runtimes: this one is simply not dumped.
}

void unregister_for_sigquit(Sched* s) {
  for (auto& slot : g_scheds) {
    Sched* expected = s;
    if (slot.compare_exchange_strong(expected, nullptr)) {
      return;
    }
  }
}

namespace {

[[noreturn]] void serve_sigquit() {
  std::fflush(stdout);
  std::string out = "SIGQUIT: quit\n\n";
  for (auto& slot : g_scheds) {
    if (Sched* s = slot.load(std::memory_order_acquire)) {
      out += s->dump();
    }
  }
  ssize_t ignored = ::write(STDERR_FILENO, out.data(), out.size());
  (void)ignored;
  ::_exit(2);
}

}  // namespace

void Sched::sysmon_main() {
  std::int64_t delay = kMinDelayNs;
  while (!stopping_.load(std::memory_order_acquire)) {
    if (g_sigquit.load(std::memory_order_acquire) == 1) {
      int expected = 1;
      if (g_sigquit.compare_exchange_strong(expected, 2)) {
        serve_sigquit();
      }
    }
    if (npidle_.load(std::memory_order_seq_cst) == nprocs_ &&
        nblocking_.load(std::memory_order_acquire) == 0) {
      // Nothing runs: sleep until start_m() sees work (or stop / SIGQUIT).
      sysmon_sleeping_.store(true, std::memory_order_seq_cst);
      if (npidle_.load(std::memory_order_seq_cst) == nprocs_) {
        sysmon_note_.sleep(-1);
      }
      sysmon_sleeping_.store(false, std::memory_order_relaxed);
      sysmon_note_.clear();
      delay = kMinDelayNs;
      continue;
    }
    sysmon_note_.sleep(delay);
    sysmon_note_.clear();
    if (stopping_.load(std::memory_order_acquire)) {
      break;
    }
    bool acted = retake(steady_now_ns());
    delay = acted ? kMinDelayNs : std::min(delay * 2, kMaxDelayNs);
  }
}

bool Sched::retake(std::int64_t now) {
  bool acted = false;
  for (int i = 0; i < nprocs_; ++i) {
    P* p = ps_[i].get();
    PWatch& w = watch_[i];
    const PStatus st = p->status.load(std::memory_order_acquire);
    const std::uint64_t switches = p->switches.get();
    if (st == PStatus::kRunning) {
      if (switches != w.switches) {
        w.switches = switches;
        w.since_ns = now;
        w.reported = false;
      } else if (!w.reported && now - w.since_ns > kLongRunningNs) {
        w.reported = true;
        long_running_.fetch_add(1, std::memory_order_relaxed);
      }
    } else {
      w.switches = switches;
      w.since_ns = now;
      w.reported = false;
    }
    if (st != PStatus::kSyscall) {
      w.blocking_calls = p->blocking_calls.get();
      w.blocking_since_ns = now;
      continue;
    }
    const std::uint64_t calls = p->blocking_calls.get();
    if (calls != w.blocking_calls) {
      // A new blocking call since last round: give it one round to return.
      w.blocking_calls = calls;
      w.blocking_since_ns = now;
      continue;
    }
    // Same call for a whole round. Retake if the P has work to do, or if no
    // one else could pick work up, or once it has blocked for 10 ms anyway.
    const bool has_work =
        !p->runq.empty() || p->runnext.load(std::memory_order_relaxed) != nullptr ||
        gq_size_.load(std::memory_order_relaxed) > 0 || p->timers.earliest() != TimerHeap::kNever;
    const bool nobody_else =
        nmspinning_.load(std::memory_order_relaxed) + npidle_.load(std::memory_order_relaxed) == 0;
    if (!has_work && !nobody_else && now - w.blocking_since_ns < kIdleBlockingRetakeNs) {
      continue;
    }
    PStatus expected = PStatus::kSyscall;
    if (p->status.compare_exchange_strong(expected, PStatus::kIdle, std::memory_order_acq_rel)) {
      handoff_p(p);
      acted = true;
    }
  }
  return acted;
}

void Sched::handoff_p(P* p) {
  const bool has_work = !p->runq.empty() || p->runnext.load(std::memory_order_relaxed) != nullptr ||
                        gq_size_.load(std::memory_order_relaxed) > 0 ||
                        p->timers.earliest() != TimerHeap::kNever;
  if (has_work) {
    start_m(p, false);
    return;
  }
  int expected = 0;
  if (npidle_.load(std::memory_order_relaxed) == 0 &&
      nmspinning_.compare_exchange_strong(expected, 1, std::memory_order_seq_cst)) {
    start_m(p, true);  // keep one M looking for work
    return;
  }
  std::lock_guard lock(mu_);
  pidle_put(p);
}

}  // namespace skein::detail
