// skein::blocking(fn): running a thread-blocking call without idling a P.
//
// Go's entersyscall/exitsyscall. Entering marks the M's P kSyscall and keeps
// it: a short call costs two atomic operations and no hand-off. If the call
// lasts a whole sysmon round, sysmon takes the P (CAS kSyscall -> kIdle) and
// hands it to another M, so the other goroutines keep running. On return the
// M takes its P back if it can (CAS kSyscall -> kRunning), else any idle P,
// else it queues its goroutine globally and goes to sleep itself.
#include "skein/blocking.hpp"
#include "current.hpp"
#include "panic.hpp"
#include "sched.hpp"

namespace skein::detail {

void Sched::enter_blocking(G* g) {
  M* m = current_m();
  P* p = m->p;
  nblocking_.fetch_add(1, std::memory_order_acq_rel);
  g->wait_reason.store(WaitReason::kBlocking, std::memory_order_relaxed);
  p->blocking_calls.add();
  p->status.store(PStatus::kSyscall, std::memory_order_release);
}

void Sched::exit_blocking(G* g) {
  M* m = current_m();  // no switch happened: still the M that entered
  P* p = m->p;
  g->wait_reason.store(WaitReason::kNone, std::memory_order_relaxed);
  nblocking_.fetch_sub(1, std::memory_order_acq_rel);
  PStatus expected = PStatus::kSyscall;
  if (p->status.compare_exchange_strong(expected, PStatus::kRunning, std::memory_order_acq_rel)) {
    return;  // fast path: nobody took the P
  }
  m->p = nullptr;
  {
    std::unique_lock lock(mu_);
    if (P* idle = pidle_get()) {
      lock.unlock();
      acquire_p(m, idle);
      return;
    }
  }
  // No P: park this goroutine as runnable in the global queue; the M sleeps
  // until a P is handed to it (m_main).
  switch_to_g0(g, MAction::kBlockingNoP);
}

void enter_blocking() {
  if (G* g = current_running_g()) {
    g->sched->enter_blocking(g);
  }
}

void exit_blocking() {
  if (G* g = current_running_g()) {
    g->sched->exit_blocking(g);
  }
}

}  // namespace skein::detail
