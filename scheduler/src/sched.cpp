// The scheduler loop, run queues and the M parking protocol.
//
// Model (Go's G/M/P, see docs/scheduler.md): Ps are the right to run
// goroutines; Ms are threads; an M runs goroutines only while it holds a P. A
// new or woken G goes to the current P's `runnext` (it runs next, on a warm
// cache) or its local run queue; a full local queue spills half to the global
// queue. An M looks for work in this order: expired timers, the global queue
// every 61st tick (fairness: without it two goroutines that keep waking each
// other through runnext could starve the global queue forever), runnext and
// the local queue, the global queue, then stealing half of a random victim's
// queue (and its expired timers).
//
// Parking Ms without losing wake-ups (proc.go's protocol, kept as is):
//  - A submitter (go, ready) puts work on a queue, then calls wakep(), which
//    wakes an idle M only if there is an idle P and no M is spinning. So at
//    most one M spins per burst of submissions; it wakes the next one when it
//    finds work (reset_spinning), so the wave widens only while work remains.
//  - A spinning M that finds nothing gives up its P, decrements nmspinning_
//    (a seq_cst read-modify-write), and only then re-checks every run queue.
//    The submitter's queue write is followed by its own seq_cst operation
//    (the runnext exchange, or the CAS in wakep) before reading nmspinning_.
//    Either the submitter sees nmspinning_ == 0 and wakes someone, or the
//    spinner's re-check sees the work: never neither.
// Rejected: a central queue with a condvar (every spawn contends one lock);
// waking an M per submission (thundering herd: Boost.Fiber's busy threads);
// spinning forever (burns a core while idle; the target is 0% CPU when idle).
//
// Timers: each P has a heap. A P's owner runs its expired timers each round;
// thieves run their victims'. The last M to go idle sleeps until the earliest
// deadline of all heaps (timer_sleeper_); an earlier timer armed later wakes it.
#include "sched.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <exception>
#include <thread>
#include <tuple>

#include "current.hpp"
#include "netpoll.hpp"
#include "panic.hpp"

namespace skein::detail {

namespace {

constexpr std::uint32_t kFairnessTick = 61;      // proc.go's value: prime, ~1.6% of picks
constexpr std::uint32_t kMaxRunnextStreak = 64;  // then the local queue head goes first
constexpr std::uint32_t kFreeBatch = 32;  // G units moved between a P's cache and the global list
constexpr std::uint64_t kGoidBatch = 16;  // ids taken per P from the shared counter
constexpr int kStealRounds = 4;
constexpr long kRunnextStealDelayNs = 3'000;     // bench/RESULTS.md: W3 P=2 671 -> 382 ms
constexpr std::size_t kMinStackLeft = 8 * 1024;  // usable stack left after a closure

long futex(std::atomic<std::uint32_t>* addr, int op, std::uint32_t val, const timespec* ts) {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), op, val, ts, nullptr, 0);
}

#if defined(SKEIN_SCHED_RANDOMIZE)
constexpr bool kRandomize = true;
#else
constexpr bool kRandomize = false;
#endif

}  // namespace

// ---- Note ------------------------------------------------------------------

void Note::wakeup() noexcept {
  if (key_.exchange(1, std::memory_order_release) == 0) {
    futex(&key_, FUTEX_WAKE_PRIVATE, 1, nullptr);
  }
}

bool Note::sleep(std::int64_t timeout_ns) noexcept {
  const std::int64_t deadline = timeout_ns < 0 ? -1 : steady_now_ns() + timeout_ns;
  while (key_.load(std::memory_order_acquire) == 0) {
    if (deadline < 0) {
      futex(&key_, FUTEX_WAIT_PRIVATE, 0, nullptr);
      continue;
    }
    std::int64_t left = deadline - steady_now_ns();
    if (left <= 0) {
      return key_.load(std::memory_order_acquire) != 0;
    }
    timespec ts{static_cast<time_t>(left / 1'000'000'000), static_cast<long>(left % 1'000'000'000)};
    futex(&key_, FUTEX_WAIT_PRIVATE, 0, &ts);
  }
  return true;
}

// ---- G ---------------------------------------------------------------------

void G::transition(GStatus from, GStatus to) {
  GStatus expected = from;
  if (!status.compare_exchange_strong(expected, to, std::memory_order_acq_rel)) [[unlikely]] {
    fatal("goroutine %llu: bad status transition %s -> %s (status is %s)",
          static_cast<unsigned long long>(id), gstatus_name(from), gstatus_name(to),
          gstatus_name(expected));
  }
}

const char* gstatus_name(GStatus s) {
  switch (s) {
    case GStatus::kIdle:
      return "idle";
    case GStatus::kRunnable:
      return "runnable";
    case GStatus::kRunning:
      return "running";
    case GStatus::kWaiting:
      return "waiting";
    case GStatus::kDead:
      return "dead";
  }
  return "?";
}

// Entry of every goroutine's stack: runs the closure, then switches back to
// g0 for good. Never returns (there is nothing to return to).
void g_entry(Transfer t) {
  M* m = static_cast<M*>(t.data);
  m->g0_ctx = t.from;
  G* g = m->curg;
  finish_switch(&g->fiber, &m->g0_fiber);
  try {
    g->invoke(g->closure);
  } catch (...) {
    report_panic(g, std::current_exception());
  }
  m = current_m();  // may differ from the M that started us
  m->action = MAction::kExit;
  jump(m->g0_ctx, nullptr, nullptr, m->g0_fiber);
  __builtin_unreachable();
}

// G -> g0 with an action for g0 to carry out once the G's context is saved.
void switch_to_g0(G* g, MAction action) {
  M* m = current_m();
  m->action = action;
  Transfer t = jump(m->g0_ctx, nullptr, &g->fiber, m->g0_fiber);
  M* resumed_on = static_cast<M*>(t.data);
  resumed_on->g0_ctx = t.from;
  finish_switch(&g->fiber, &resumed_on->g0_fiber);
}

// ---- Construction ----------------------------------------------------------

Sched::Sched(const Config& config)
    : config_(config),
      arena_(config.stack_size, config.guard_pages),
      nprocs_(config.procs > 0
                  ? config.procs
                  : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))),
      sleep_until_(TimerHeap::kNever) {
  config_.procs = nprocs_;
  netpoll_ = std::make_unique<Netpoll>();
  ps_.reserve(nprocs_);
  for (int i = 0; i < nprocs_; ++i) {
    auto p = std::make_unique<P>();
    p->id = i;
    p->sched = this;
    ps_.push_back(std::move(p));
  }
  {
    std::lock_guard lock(mu_);
    for (int i = nprocs_ - 1; i >= 0; --i) {
      pidle_put(ps_[i].get());
    }
  }
  watch_.resize(nprocs_);
  register_for_sigquit(this);
  sysmon_ = std::thread([this] { sysmon_main(); });
}

Sched::~Sched() {
  stopping_.store(true, std::memory_order_seq_cst);
  unregister_for_sigquit(this);
  sysmon_note_.wakeup();
  sysmon_.join();
  netpoll_->io().stop();  // an M blocked in the poller returns, now or later
  std::vector<M*> ms;
  {
    std::lock_guard lock(mu_);
    for (auto& m : all_ms_) {
      ms.push_back(m.get());
    }
  }
  for (M* m : ms) {
    wake_m(m);
  }
  for (M* m : ms) {
    if (m->thread.joinable()) {
      m->thread.join();
    }
  }
  // Abandoned goroutines (parked or never run) die with their stacks, as in
  // Go when main returns. Their TSan fibers go too.
  std::lock_guard lock(all_mu_);
  for (G* g = all_gs_; g != nullptr; g = g->all_next) {
    tsan_destroy_fiber(g->fiber.tsan_fiber);
  }
}

// ---- Spawning --------------------------------------------------------------

G* Sched::new_g(std::size_t size, std::size_t align, void (*invoke)(void*), void** closure,
                const std::source_location& site) {
  M* m = current_m();
  P* p = (m != nullptr && m->sched == this) ? m->p : nullptr;
  G* g = gfree_get(p);
  if (g == nullptr) {
    g = arena_.new_unit(this);
    std::lock_guard lock(all_mu_);
    g->all_next = all_gs_;
    all_gs_ = g;
  }
  if (p != nullptr) {
    if (p->id_next == p->id_end) {
      p->id_next = goid_gen_.fetch_add(kGoidBatch, std::memory_order_relaxed);
      p->id_end = p->id_next + kGoidBatch;
    }
    g->id = p->id_next++;
  } else {
    g->id = goid_gen_.fetch_add(1, std::memory_order_relaxed);
  }
  auto top = reinterpret_cast<std::uintptr_t>(g);
  auto storage = (top - size) & ~(static_cast<std::uintptr_t>(align) - 1);
  auto sp = storage & ~std::uintptr_t{63};
  auto lo = reinterpret_cast<std::uintptr_t>(g->stack_lo);
  if (storage < lo || sp - lo < kMinStackLeft) {
    fatal("goroutine closure of %zu bytes does not fit a %zu-byte stack", size, g->stack_size);
  }
  g->invoke = invoke;
  g->closure = reinterpret_cast<void*>(storage);
  g->site = site;
  g->ctx = make_context(reinterpret_cast<void*>(sp), sp - lo, &g_entry);
  g->fiber.stack_bottom = g->stack_lo;
  g->fiber.stack_size = sp - lo;
  g->fiber.asan_fake_stack = nullptr;
  g->wait_reason.store(WaitReason::kNone, std::memory_order_relaxed);
  g->ready_ns = 0;
  *closure = g->closure;
  return g;
}

void Sched::start_g(G* g) {
  g->set_owned(GStatus::kIdle, GStatus::kRunnable);
  M* m = current_m();
  P* p = (m != nullptr && m->sched == this) ? m->p : nullptr;
  if (p != nullptr) {
    p->spawned.add();
    if (runq_put(p, g, true)) {
      // Backpressure: the local queue overflowed, so this goroutine spawns
      // faster than the Ps run what it spawns. It goes to the back of the
      // global queue, behind the batch that just spilled there, and the P
      // runs its queue first. Without this a spawn loop (W1) keeps tens of
      // thousands of goroutines alive, each a cold stack page; with it a few
      // hundred recycle warm ones. Spawn order is unspecified, as in Go.
      if (G* self = m->curg; self != nullptr) {
        wakep();
        switch_to_g0(self, MAction::kYieldGlobal);
        return;
      }
    }
  } else {
    {
      std::lock_guard lock(mu_);
      ps_[0]->spawned.add();  // counters are owner-written; foreign spawns are rare
    }
    global_put(g);
  }
  wakep();
}

// ---- Park / ready / yield --------------------------------------------------

void Sched::park(G* g, void (*unlock)(void*), void* arg, WaitReason reason) {
  g->wait_reason.store(reason, std::memory_order_relaxed);
  if (!g->park_external) {
    nonexternal_waiting_.fetch_add(1, std::memory_order_acq_rel);
  }
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  g->wait_since_ns.store(ts.tv_sec * 1'000'000'000LL + ts.tv_nsec, std::memory_order_relaxed);
  M* m = current_m();
  m->unlock_fn = unlock;
  m->unlock_arg = arg;
  switch_to_g0(g, MAction::kPark);
}

void Sched::ready(G* g) {
  g->transition(GStatus::kWaiting, GStatus::kRunnable);
  if (!g->park_external) {
    g->park_external = true;
    nonexternal_waiting_.fetch_sub(1, std::memory_order_acq_rel);
  }
  M* m = current_m();
  P* p = (m != nullptr && m->sched == this) ? m->p : nullptr;
  if (p != nullptr) {
    p->unparks.add();
    if ((++p->ready_sample & 63) == 0) {
      g->ready_ns = steady_now_ns();
    }
    runq_put(p, g, !m->firing_timers);
  } else {
    foreign_unparks_.fetch_add(1, std::memory_order_relaxed);
    global_put(g);
  }
  wakep();
}

void Sched::yield(G* g) { switch_to_g0(g, MAction::kYield); }

// ---- The M loop ------------------------------------------------------------

void Sched::m_main(M* m) {
  set_current_m(m);
  m->alt_stack = install_overflow_handler_on_this_thread();
  m->g0_fiber.tsan_fiber = tsan_current_fiber();
  {
    std::unique_lock lock(mu_);
    P* p = m->nextp;
    m->nextp = nullptr;
    m->spinning = m->next_spinning;
    lock.unlock();
    if (p != nullptr) {
      acquire_p(m, p);
    }
  }
  for (;;) {
    // No P after a blocking() call whose P was retaken (or at start): sleep
    // until one is handed over.
    while (m->p == nullptr && !stopping_.load(std::memory_order_acquire)) {
      stop_m(m, TimerHeap::kNever);
      if (m->p == nullptr) {
        acquire_idle_p_spinning(m);  // woken without a P: a P may be waiting for us
      }
    }
    G* g = m->p != nullptr ? find_runnable(m) : nullptr;
    if (g == nullptr) {
      break;  // stopping
    }
    if (m->spinning) {
      reset_spinning(m);
    }
    execute(m, g);
  }
  if (m->spinning) {
    m->spinning = false;
    nmspinning_.fetch_sub(1, std::memory_order_seq_cst);
  }
  if (m->p != nullptr) {
    std::lock_guard lock(mu_);
    pidle_put(m->p);
    m->p = nullptr;
  }
  remove_alt_stack(m->alt_stack);
  set_current_m(nullptr);
}

bool Sched::acquire_idle_p_spinning(M* m) {
  P* p = nullptr;
  bool counted = false;  // nmspinning_ already counts us (a spinning handoff)
  {
    std::lock_guard lock(mu_);
    if (m->waking) {
      m->waking = false;
      --nmwaking_;
    }
    if (m->idling) {
      m->idling = false;
      --nmidling_;
    }
    if (!handoffs_.empty() && nmidling_ < static_cast<int>(handoffs_.size())) {
      // A P reserved for an idling M that no longer exists: take it.
      std::tie(p, counted) = handoffs_.back();
      handoffs_.pop_back();
    } else {
      p = pidle_get();
    }
  }
  if (p == nullptr) {
    return false;
  }
  acquire_p(m, p);
  m->spinning = true;
  if (!counted) {
    nmspinning_.fetch_add(1, std::memory_order_seq_cst);
  }
  return true;
}

void Sched::acquire_p(M* m, P* p) {
  m->p = p;
  p->status.store(PStatus::kRunning, std::memory_order_release);
}

void Sched::execute(M* m, G* g) {
  P* p = m->p;
  ++p->schedtick;
  p->switches.add();
  if (g->ready_ns != 0) [[unlikely]] {
    std::int64_t waited = steady_now_ns() - g->ready_ns;
    int bucket = waited <= 1 ? 0 : std::min(kLatencyBuckets - 1, 63 - __builtin_clzll(waited));
    p->latency[bucket].add();
    g->ready_ns = 0;
  }
  g->set_owned(GStatus::kRunnable, GStatus::kRunning);
  m->curg = g;
  Transfer t = jump(g->ctx, m, &m->g0_fiber, g->fiber);
  finish_switch(&m->g0_fiber, nullptr);
  m->curg = nullptr;
  p = m->p;
  switch (m->action) {
    case MAction::kPark:
      g->ctx = t.from;
      if (!StackArena::canary_ok(g)) [[unlikely]] {
        report_stack_overflow(g);
      }
      g->set_owned(GStatus::kRunning, GStatus::kWaiting);
      p->parks.add();
      if (m->unlock_fn != nullptr) {
        m->unlock_fn(m->unlock_arg);
      }
      break;
    case MAction::kYield:
      g->ctx = t.from;
      if (!StackArena::canary_ok(g)) [[unlikely]] {
        report_stack_overflow(g);
      }
      g->set_owned(GStatus::kRunning, GStatus::kRunnable);
      // To the tail of the local queue (not runnext), so everything already
      // queued runs first. The yielding M schedules next: no wakep needed.
      if (!p->runq.push(g)) {
        global_put(g);
      }
      break;
    case MAction::kBlockingNoP:
      // Back from blocking() to find the P retaken and none idle: the G
      // waits in the global queue, this M sleeps until handed a P.
      g->ctx = t.from;
      g->set_owned(GStatus::kRunning, GStatus::kRunnable);
      global_put(g);
      break;
    case MAction::kYieldGlobal:
      g->ctx = t.from;
      g->set_owned(GStatus::kRunning, GStatus::kRunnable);
      global_put(g);
      break;
    case MAction::kExit:
      if (!StackArena::canary_ok(g)) [[unlikely]] {
        report_stack_overflow(g);
      }
      g->set_owned(GStatus::kRunning, GStatus::kDead);
      p->finished.add();
      gfree_put(p, g);
      break;
    case MAction::kNone:
      fatal("goroutine %llu switched out without an action",
            static_cast<unsigned long long>(g->id));
  }
  m->action = MAction::kNone;
}

void Sched::reset_spinning(M* m) {
  m->spinning = false;
  // The last spinner to find work wakes another: there may be more.
  if (nmspinning_.fetch_sub(1, std::memory_order_seq_cst) == 1) {
    wakep();
  }
}

G* Sched::find_runnable(M* m) {
top:
  if (stopping_.load(std::memory_order_acquire)) {
    return nullptr;
  }
  P* p = m->p;
  std::int64_t now = 0;
  if (p->timers.earliest() != TimerHeap::kNever &&
      p->timers.earliest() <= (now = steady_now_ns())) {
    run_timers(p, now, false);
  }
  if (p->schedtick % kFairnessTick == 0 && gq_size_.load(std::memory_order_relaxed) > 0) {
    std::lock_guard lock(mu_);
    if (G* g = global_get_locked(p, 1)) {
      return g;
    }
  }
  if (G* g = runq_get(p)) {
    return g;
  }
  if (gq_size_.load(std::memory_order_relaxed) > 0) {
    std::lock_guard lock(mu_);
    if (G* g = global_get_locked(p, 0)) {
      return g;
    }
  }
  // Network events, if anyone waits for one and no M is blocked polling.
  if (netpoll_->waiters.load(std::memory_order_acquire) > 0 &&
      netpoll_m_.load(std::memory_order_acquire) == nullptr) {
    netpoll_->poll();
    if (G* g = runq_get(p)) {
      return g;
    }
  }
  // Steal, unless enough Ms are already spinning: spinning Ms burn CPU, so at
  // most half the busy Ps' worth may spin at once (proc.go's bound).
  const int busy = nprocs_ - npidle_.load(std::memory_order_relaxed);
  if (m->spinning || 2 * nmspinning_.load(std::memory_order_relaxed) < busy) {
    if (!m->spinning) {
      m->spinning = true;
      nmspinning_.fetch_add(1, std::memory_order_seq_cst);
    }
    if (G* g = steal_work(m, p)) {
      return g;
    }
  }

  // Nothing found: give the P back.
  {
    std::lock_guard lock(mu_);
    if (stopping_.load(std::memory_order_acquire)) {
      return nullptr;
    }
    if (gq_size_.load(std::memory_order_relaxed) > 0) {
      return global_get_locked(p, 0);
    }
    pidle_put(p);
    m->p = nullptr;
    // From here until stop_m puts us on the idle list, start_m must not
    // create a thread for lack of an idle M: it hands the P to us instead.
    m->idling = true;
    ++nmidling_;
  }
  if (m->spinning) {
    m->spinning = false;
    nmspinning_.fetch_sub(1, std::memory_order_seq_cst);
    // Re-check after the decrement (see the protocol at the top).
    bool work = gq_size_.load(std::memory_order_seq_cst) > 0;
    for (int i = 0; i < nprocs_ && !work; ++i) {
      P* pp = ps_[i].get();
      work = !pp->runq.empty() || pp->runnext.load(std::memory_order_seq_cst) != nullptr;
    }
    if (work && acquire_idle_p_spinning(m)) {
      goto top;
    }
  }
  std::int64_t deadline = earliest_timer();
  // Deadlock suspicion: nothing can wake anyone. Sleep through a grace period
  // (see deadlock.cpp) and report if nothing at all happened meanwhile.
  std::uint64_t suspect_activity = 0;
  bool suspect = false;
  if (deadline == TimerHeap::kNever && deadlock_suspected()) {
    suspect = true;
    suspect_activity = activity();
    deadline = steady_now_ns() + kDeadlockGraceNs;
  }
  for (;;) {
    stop_m(m, deadline);
    if (stopping_.load(std::memory_order_acquire)) {
      return nullptr;
    }
    if (m->p != nullptr) {
      goto top;
    }
    if (suspect && steady_now_ns() >= deadline) {
      if (activity() == suspect_activity && deadlock_suspected()) {
        report_deadlock();
      }
      suspect = false;
    }
    // Woken by a timeout (a timer is due) or by the timer-sleeper handoff:
    // take any idle P and look for work as a spinner.
    if (acquire_idle_p_spinning(m)) {
      goto top;
    }
    // Every P is busy, and their Ms run due timers each round: sleeping with
    // the same deadline again would spin. Sleep until handed a P.
    deadline = TimerHeap::kNever;
  }
}

G* Sched::steal_work(M* m, P* p) {
  for (int round = 0; round < kStealRounds; ++round) {
    const bool last_round = round == kStealRounds - 1;
    const std::uint32_t start = m->fastrand() % static_cast<std::uint32_t>(nprocs_);
    for (int i = 0; i < nprocs_; ++i) {
      P* victim = ps_[(start + static_cast<std::uint32_t>(i)) % nprocs_].get();
      if (victim == p) {
        continue;
      }
      if (gq_size_.load(std::memory_order_relaxed) > 0) {
        std::lock_guard lock(mu_);
        if (G* g = global_get_locked(p, 0)) {
          return g;
        }
      }
      std::int64_t earliest = victim->timers.earliest();
      if (earliest != TimerHeap::kNever && earliest <= steady_now_ns()) {
        run_timers(victim, steady_now_ns(), true);
        if (G* g = runq_get(p)) {
          return g;
        }
      }
      std::uint32_t n = 0;
      if (G* g = p->runq.steal_half_from(victim->runq, &n)) {
        p->steals.add();
        p->stolen.add(n);
        return g;
      }
      // The victim's runnext is its owner's next pick: a goroutine just
      // readied or spawned there, usually because the owner is about to
      // park (ping-pong, a send to a waiting receiver). Taking it at once
      // bounces it between cores and costs a park/wake pair per message
      // (W3 at P=2: ~42k of each). So only in the last round, and only if it
      // is still there after kRunnextStealDelay (proc.go's usleep(3)).
      if (last_round && victim->runnext.load(std::memory_order_relaxed) != nullptr) {
        if (victim->status.load(std::memory_order_relaxed) == PStatus::kRunning) {
          timespec ts{0, kRunnextStealDelayNs};
          ::nanosleep(&ts, nullptr);
        }
        if (G* g = victim->runnext.exchange(nullptr, std::memory_order_acq_rel)) {
          p->steals.add();
          p->stolen.add();
          return g;
        }
      }
    }
  }
  return nullptr;
}

void Sched::stop_m(M* m, std::int64_t deadline_ns) {
  std::int64_t timeout = -1;
  bool poller = false;
  {
    std::lock_guard lock(mu_);
    if (m->waking) {
      m->waking = false;
      --nmwaking_;
    }
    if (m->idling) {
      m->idling = false;
      --nmidling_;
    }
    if (stopping_.load(std::memory_order_acquire)) {
      return;
    }
    if (!handoffs_.empty()) {
      // start_m reserved a P for an M on its way to sleep: that is us.
      auto [p, spinning] = handoffs_.back();
      handoffs_.pop_back();
      acquire_p(m, p);
      m->spinning = spinning;
      thread_wakes_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    // One idle M blocks in the netpoller while any goroutine waits for I/O.
    if (netpoll_->waiters.load(std::memory_order_acquire) > 0 &&
        netpoll_m_.load(std::memory_order_relaxed) == nullptr) {
      netpoll_m_.store(m, std::memory_order_release);
      m->in_netpoll.store(true, std::memory_order_release);
      poller = true;
    }
    m->idle = true;
    m->idle_link = midle_;
    midle_ = m;
    nmidle_.fetch_add(1, std::memory_order_relaxed);
    if (deadline_ns != TimerHeap::kNever &&
        (timer_sleeper_ == nullptr || deadline_ns < sleep_until_.load(std::memory_order_relaxed))) {
      timer_sleeper_ = m;
      sleep_until_.store(deadline_ns, std::memory_order_seq_cst);
      timeout = std::max<std::int64_t>(0, deadline_ns - steady_now_ns());
    }
  }
  thread_parks_.fetch_add(1, std::memory_order_relaxed);
  if (poller) {
    netpoll_->run_one_until(timeout < 0 ? -1 : deadline_ns);
  } else {
    m->note.sleep(timeout);
  }
  std::lock_guard lock(mu_);
  if (poller) {
    netpoll_m_.store(nullptr, std::memory_order_release);
    m->in_netpoll.store(false, std::memory_order_release);
  }
  m->note.clear();
  if (timer_sleeper_ == m) {
    timer_sleeper_ = nullptr;
    sleep_until_.store(TimerHeap::kNever, std::memory_order_relaxed);
  }
  if (m->idle) {
    // Timed out or woken without a P: take ourselves off the idle list.
    M** link = &midle_;
    while (*link != m) {
      link = &(*link)->idle_link;
    }
    *link = m->idle_link;
    m->idle = false;
    nmidle_.fetch_sub(1, std::memory_order_relaxed);
  }
  if (m->nextp != nullptr) {
    acquire_p(m, m->nextp);
    m->nextp = nullptr;
    m->spinning = m->next_spinning;
    thread_wakes_.fetch_add(1, std::memory_order_relaxed);
  } else {
    // Awake without a P (timer deadline, netpoll event, handoff): this M is
    // about to look for an idle P itself; start_m counts on that instead of
    // creating another thread.
    m->waking = true;
    ++nmwaking_;
  }
}

void Sched::wakep() {
  if (npidle_.load(std::memory_order_seq_cst) == 0) {
    return;
  }
  int expected = 0;
  if (nmspinning_.load(std::memory_order_seq_cst) != 0 ||
      !nmspinning_.compare_exchange_strong(expected, 1, std::memory_order_seq_cst)) {
    return;
  }
  start_m(nullptr, true);
}

void Sched::start_m(P* p, bool spinning) {
  std::unique_lock lock(mu_);
  if (p == nullptr) {
    p = pidle_get();
    if (p == nullptr) {
      lock.unlock();
      if (spinning) {
        nmspinning_.fetch_sub(1, std::memory_order_seq_cst);
      }
      return;
    }
  }
  if (stopping_.load(std::memory_order_acquire)) {
    pidle_put(p);
    if (spinning) {
      nmspinning_.fetch_sub(1, std::memory_order_seq_cst);
    }
    return;
  }
  if (midle_ == nullptr && nmidling_ > static_cast<int>(handoffs_.size())) {
    // An M is between giving its P back and going to sleep: it takes this P
    // in stop_m instead of sleeping.
    handoffs_.emplace_back(p, spinning);
    return;
  }
  if (midle_ == nullptr && nmwaking_ > 0) {
    // An M that just woke up without a P will take this one (it calls
    // acquire_idle_p_spinning next): no new thread. Keeps a netpoll server
    // on 2 Ps within 4 threads.
    pidle_put(p);
    if (spinning) {
      nmspinning_.fetch_sub(1, std::memory_order_seq_cst);
    }
    return;
  }
  if (M* m = midle_get()) {
    m->nextp = p;
    m->next_spinning = spinning;
    const bool in_netpoll = m->in_netpoll.load(std::memory_order_acquire);
    lock.unlock();
    m->note.wakeup();
    if (in_netpoll) {
      netpoll_->interrupt();
    }
    return;
  }
  if (static_cast<int>(all_ms_.size()) >= config_.max_threads) {
    fatal("program exceeds the %d-thread limit", config_.max_threads);
  }
  auto owned = std::make_unique<M>();
  M* m = owned.get();
  m->id = static_cast<int>(all_ms_.size());
  m->sched = this;
  m->rand_state = 0x9e3779b9u * static_cast<std::uint32_t>(m->id + 1);
  m->nextp = p;
  m->next_spinning = spinning;
  all_ms_.push_back(std::move(owned));
  m->thread = std::thread([this, m] { m_main(m); });
}

void Sched::wake_timer_sleeper(std::int64_t when_ns) {
  if (when_ns >= sleep_until_.load(std::memory_order_seq_cst) &&
      sleep_until_.load(std::memory_order_relaxed) != TimerHeap::kNever) {
    return;  // the sleeper will wake in time
  }
  if (nmidle_.load(std::memory_order_relaxed) == 0) {
    return;  // every M is busy; they check timers each round
  }
  M* to_wake = nullptr;
  {
    std::lock_guard lock(mu_);
    if (timer_sleeper_ != nullptr) {
      to_wake = timer_sleeper_;
    } else if (midle_ != nullptr && npidle_.load(std::memory_order_relaxed) == nprocs_) {
      // Every M is asleep with no deadline: wake one to own this timer.
      to_wake = midle_;
    }
  }
  if (to_wake != nullptr) {
    wake_m(to_wake);
  }
}

void Sched::wake_m(M* m) {
  m->note.wakeup();
  if (m->in_netpoll.load(std::memory_order_acquire)) {
    netpoll_->interrupt();
  }
}

// ---- Run queues ------------------------------------------------------------

bool Sched::runq_put(P* p, G* g, bool next) {
  if constexpr (kRandomize) {
    if (next && (current_m() != nullptr) && (current_m()->fastrand() & 1) != 0) {
      next = false;
    }
  }
  if (next) {
    G* old = p->runnext.exchange(g, std::memory_order_seq_cst);
    if (old == nullptr) {
      return false;
    }
    g = old;  // the previous runnext goes to the tail
  }
  for (;;) {
    if (p->runq.push(g)) {
      return false;
    }
    G* batch[RunQueue::kCapacity / 2 + 1];
    std::uint32_t n = p->runq.take_half_for_overflow(batch);
    if (n == 0) {
      continue;  // a thief made room
    }
    batch[n++] = g;
    global_put_batch(batch, n);
    return true;
  }
}

G* Sched::runq_get(P* p) {
  if (p->runnext_streak < kMaxRunnextStreak) {
    if (p->runnext.load(std::memory_order_relaxed) != nullptr) {
      if (G* g = p->runnext.exchange(nullptr, std::memory_order_acq_rel)) {
        ++p->runnext_streak;
        return g;
      }
    }
  }
  p->runnext_streak = 0;
  if (G* g = p->runq.pop()) {
    return g;
  }
  return p->runnext.exchange(nullptr, std::memory_order_acq_rel);
}

void Sched::global_put(G* g) { global_put_batch(&g, 1); }

void Sched::global_put_batch(G* const* gs, std::uint32_t n) {
  std::lock_guard lock(mu_);
  gq_.push(gs, n);
  gq_size_.store(static_cast<std::uint32_t>(gq_.size()), std::memory_order_seq_cst);
}

G* Sched::global_get_locked(P* p, std::uint32_t max) {
  const std::uint32_t size = static_cast<std::uint32_t>(gq_.size());
  if (size == 0) {
    return nullptr;
  }
  std::uint32_t n = std::min(size, size / static_cast<std::uint32_t>(nprocs_) + 1);
  if (max > 0) {
    n = std::min(n, max);
  }
  // Leave room in the local queue: it is normally empty here, but a thief's
  // leftovers or a timer batch may sit in it.
  n = std::min(n, RunQueue::kCapacity / 2);
  G* batch[RunQueue::kCapacity / 2];
  n = static_cast<std::uint32_t>(gq_.pop(batch, n));
  std::uint32_t kept = 1;
  for (; kept < n; ++kept) {
    if (!p->runq.push(batch[kept])) {
      break;
    }
  }
  if (kept < n) {
    gq_.push(batch + kept, n - kept);  // back of the line; rare
  }
  gq_size_.store(static_cast<std::uint32_t>(gq_.size()), std::memory_order_relaxed);
  return batch[0];
}

// ---- Idle lists ------------------------------------------------------------

P* Sched::pidle_get() {
  P* p = pidle_;
  if (p != nullptr) {
    pidle_ = p->idle_link;
    p->idle = false;
    npidle_.fetch_sub(1, std::memory_order_seq_cst);
    // A P leaves the idle list: the runtime is busy again, sysmon must watch.
    if (sysmon_sleeping_.load(std::memory_order_seq_cst)) {
      sysmon_note_.wakeup();
    }
  }
  return p;
}

void Sched::pidle_put(P* p) {
  p->status.store(PStatus::kIdle, std::memory_order_release);
  p->idle_link = pidle_;
  p->idle = true;
  pidle_ = p;
  npidle_.fetch_add(1, std::memory_order_seq_cst);
}

M* Sched::midle_get() {
  M* m = midle_;
  if (m != nullptr) {
    midle_ = m->idle_link;
    m->idle = false;
    nmidle_.fetch_sub(1, std::memory_order_relaxed);
  }
  return m;
}

// ---- G units ---------------------------------------------------------------

G* Sched::gfree_get(P* p) {
  if (p == nullptr) {
    std::lock_guard lock(mu_);
    if (gfree_.empty()) {
      return nullptr;
    }
    G* g = gfree_.back();
    gfree_.pop_back();
    n_gfree_.store(gfree_.size(), std::memory_order_relaxed);
    return g;
  }
  if (p->n_free == 0 && n_gfree_.load(std::memory_order_relaxed) > 0) {
    std::lock_guard lock(mu_);
    while (!gfree_.empty() && p->n_free < kFreeBatch) {
      p->free_gs[p->n_free++] = gfree_.back();
      gfree_.pop_back();
    }
    n_gfree_.store(gfree_.size(), std::memory_order_relaxed);
  }
  return p->n_free > 0 ? p->free_gs[--p->n_free] : nullptr;
}

void Sched::gfree_put(P* p, G* g) {
  // The finished goroutine never unwound its entry frame; clear ASan's poison
  // so the next goroutine on this stack starts clean.
  asan_unpoison(g->stack_lo, g->stack_size);
  g->set_owned(GStatus::kDead, GStatus::kIdle);
  if (p->n_free == kMaxFreeGs) {
    std::lock_guard lock(mu_);
    for (std::uint32_t i = 0; i < kFreeBatch; ++i) {
      gfree_.push_back(p->free_gs[--p->n_free]);
    }
    n_gfree_.store(gfree_.size(), std::memory_order_relaxed);
  }
  p->free_gs[p->n_free++] = g;
}

// ---- Timers ----------------------------------------------------------------

P* Sched::timer_home() {
  M* m = current_m();
  if (m != nullptr && m->sched == this && m->p != nullptr) {
    return m->p;
  }
  return ps_[0].get();
}

void Sched::add_timer_locked(P* p, TimerNode* t) {
  t->owner.store(p, std::memory_order_relaxed);
  p->timers.push(t);
}

void Sched::add_timer(TimerNode* t) {
  P* p = timer_home();
  p->timers.mu.lock();
  add_timer_locked(p, t);
  p->timers.mu.unlock();
  wake_timer_sleeper(t->when_ns);
}

bool Sched::del_timer(TimerNode* t) {
  for (;;) {
    P* p = t->owner.load(std::memory_order_acquire);
    if (p == nullptr) {
      return false;
    }
    p->timers.mu.lock();
    if (t->owner.load(std::memory_order_relaxed) != p) {
      p->timers.mu.unlock();
      continue;
    }
    p->timers.remove(t);
    t->owner.store(nullptr, std::memory_order_relaxed);
    p->timers.mu.unlock();
    return true;
  }
}

void Sched::run_timers(P* p, std::int64_t now, bool victim) {
  if (victim) {
    if (!p->timers.mu.try_lock()) {
      return;  // its owner (or another thief) is on it
    }
  } else {
    p->timers.mu.lock();
  }
  for (;;) {
    TimerNode* t = p->timers.top();
    if (t == nullptr || t->when_ns > now) {
      break;
    }
    p->timers.remove(t);
    t->owner.store(nullptr, std::memory_order_release);
    // Fire outside the lock: the callback may arm or disarm timers.
    p->timers.mu.unlock();
    M* m = current_m();
    m->firing_timers = true;
    t->fire(t);
    m->firing_timers = false;
    p->timers.mu.lock();
  }
  p->timers.mu.unlock();
}

std::int64_t Sched::earliest_timer() const {
  std::int64_t earliest = TimerHeap::kNever;
  for (const auto& p : ps_) {
    earliest = std::min(earliest, p->timers.earliest());
  }
  return earliest;
}

std::int64_t Sched::live_goroutines() const {
  std::int64_t n = 0;
  for (const auto& p : ps_) {
    n += static_cast<std::int64_t>(p->spawned.get()) - static_cast<std::int64_t>(p->finished.get());
  }
  return n;
}

}  // namespace skein::detail
