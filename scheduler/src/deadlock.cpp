// "all goroutines are asleep - deadlock!" (Go's checkdead).
//
// Called by the last M to go idle when nothing can wake anyone: every P idle,
// no timer armed, no goroutine inside blocking(), none parked on something a
// timer, the network or another thread will end (nonexternal_waiting_), no
// registered external waker (a foreign thread that may call ready(), such as
// the cluster SDK's RPC threads), and the main goroutine still running. Then
// if every goroutine is parked, none ever will run again — unless a thread
// the scheduler does not know about acts. So the idle M that suspects a
// deadlock sleeps for kDeadlockGraceNs (a timed park, not a thread sleep: a
// wake-up in between cancels the suspicion) and reports only if no scheduling
// activity happened at all.
// Config::detect_deadlock (env SKEIN_DEADLOCK=0) turns it off.
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "sched.hpp"

namespace skein::detail {

bool Sched::all_asleep() const {
  std::lock_guard lock(all_mu_);
  int waiting = 0;
  for (const G* g = all_gs_; g != nullptr; g = g->all_next) {
    switch (g->status.load(std::memory_order_acquire)) {
      case GStatus::kRunning:
      case GStatus::kRunnable:
        return false;
      case GStatus::kWaiting:
        if (!g->park_external) {
          return false;
        }
        ++waiting;
        break;
      case GStatus::kIdle:
      case GStatus::kDead:
        break;
    }
  }
  return waiting > 0;
}

bool Sched::nothing_can_wake() const {
  return npidle_.load(std::memory_order_seq_cst) == nprocs_ &&
         gq_size_.load(std::memory_order_seq_cst) == 0 && earliest_timer() == TimerHeap::kNever &&
         main_running_.load(std::memory_order_acquire) &&
         nblocking_.load(std::memory_order_acquire) == 0 &&
         nonexternal_waiting_.load(std::memory_order_acquire) == 0 &&
         external_wakers_.load(std::memory_order_acquire) == 0;
}

std::uint64_t Sched::activity() const {
  std::uint64_t n = foreign_unparks_.load(std::memory_order_relaxed);
  for (const auto& p : ps_) {
    n += p->spawned.get() + p->unparks.get() + p->switches.get();
  }
  return n;
}

bool Sched::deadlock_suspected() const {
  return config_.detect_deadlock && nothing_can_wake() && all_asleep();
}

void Sched::report_deadlock() {
  std::fflush(stdout);
  std::string out = "fatal error: all goroutines are asleep - deadlock!\n\n" + dump();
  ssize_t ignored = ::write(STDERR_FILENO, out.data(), out.size());
  (void)ignored;
  ::_exit(2);
}

}  // namespace skein::detail
