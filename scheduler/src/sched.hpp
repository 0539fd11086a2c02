// Sched: the state of one runtime's scheduler: its Ps, Ms, global run queue,
// idle lists and every G unit. The protocol (who wakes whom, and why no
// wake-up is lost) is described at the top of sched.cpp and in
// docs/scheduler.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <source_location>
#include <string>
#include <vector>

#include "g.hpp"
#include "global_runq.hpp"
#include "m.hpp"
#include "p.hpp"
#include "skein/runtime.hpp"
#include "skein/stats.hpp"
#include "stack.hpp"

namespace skein::detail {

class Netpoll;

// A suspected deadlock must persist this long, with no scheduling activity at
// all, before it is reported: a thread the scheduler cannot see (a user's
// std::thread, an RPC callback thread) may be about to wake a goroutine.
inline constexpr std::int64_t kDeadlockGraceNs = 100'000'000;

class Sched {
 public:
  explicit Sched(const Config& config);
  ~Sched();  // stops every M; goroutines still alive are abandoned
  Sched(const Sched&) = delete;
  Sched& operator=(const Sched&) = delete;

  const Config& config() const { return config_; }

  // Spawning (go.hpp). From a goroutine or any other thread.
  G* new_g(std::size_t size, std::size_t align, void (*invoke)(void*), void** closure,
           const std::source_location& site);
  void start_g(G* g);

  // Blocking (park.hpp). park: from a goroutine of this runtime only.
  void park(G* g, void (*unlock)(void*), void* arg, WaitReason reason);
  void ready(G* g);
  void yield(G* g);

  // Timers (timer.hpp). add_timer_locked: caller holds p->timers.mu.
  void add_timer(TimerNode* t);
  void add_timer_locked(P* p, TimerNode* t);
  bool del_timer(TimerNode* t);
  // Wakes the idle M sleeping until a later deadline (or, when every M
  // sleeps, one of them) so that a timer due at when_ns fires on time.
  void wake_timer_sleeper(std::int64_t when_ns);
  // Where a timer armed now should go: the current P, or P 0 from a foreign thread.
  P* timer_home();

  // skein::blocking(fn) around fn; from a goroutine of this runtime.
  void enter_blocking(G* g);
  void exit_blocking(G* g);

  // Runtime::run brackets the main goroutine with these: deadlock detection
  // is meaningful only while main runs.
  void set_main_running(bool running) { main_running_.store(running, std::memory_order_release); }
  void add_external_wakers(int delta) {
    external_wakers_.fetch_add(delta, std::memory_order_acq_rel);
  }

  Note& sysmon_note() { return sysmon_note_; }
  Netpoll& netpoll() { return *netpoll_; }

  SchedStats stats() const;
  std::string dump() const;
  std::int64_t live_goroutines() const;
  // True when no M is running a goroutine and no run queue holds one, so
  // stopping every M cannot wait on user code.
  bool quiescent() const;

 private:
  friend void g_entry(Transfer t);

  // M lifecycle and the scheduling loop (the M's own thread only).
  void m_main(M* m);
  G* find_runnable(M* m);
  G* steal_work(M* m, P* p);
  void execute(M* m, G* g);
  void reset_spinning(M* m);
  // Puts m to sleep until handed a P or until deadline_ns; returns with m->p
  // set if it was handed one.
  void stop_m(M* m, std::int64_t deadline_ns);
  void acquire_p(M* m, P* p);
  // Takes an idle P, if any, and makes m a spinning M holding it.
  bool acquire_idle_p_spinning(M* m);

  // Waking.
  void wakep();
  void start_m(P* p, bool spinning);  // requires mu_ NOT held
  // Wakes a sleeping M, whether on its futex or blocked in the netpoller.
  void wake_m(M* m);

  // Run queues.
  // Returns true if the local queue was full and half of it spilled to the
  // global queue.
  bool runq_put(P* p, G* g, bool next);
  G* runq_get(P* p);
  void global_put(G* g);                                 // takes mu_
  void global_put_batch(G* const* gs, std::uint32_t n);  // takes mu_
  G* global_get_locked(P* p, std::uint32_t max);         // requires mu_

  // Idle lists; require mu_.
  P* pidle_get();
  void pidle_put(P* p);
  M* midle_get();

  // G units.
  G* gfree_get(P* p);
  void gfree_put(P* p, G* g);

  // sysmon (sysmon.cpp): retakes Ps from long blocking calls, counts
  // goroutines that run > 10 ms without a yield point, serves SIGQUIT.
  void sysmon_main();
  bool retake(std::int64_t now);
  void handoff_p(P* p);
  // "all goroutines are asleep" (deadlock.cpp); called by the last M to idle.
  bool deadlock_suspected() const;  // nothing can wake anyone, all parked
  [[noreturn]] void report_deadlock();
  bool all_asleep() const;
  bool nothing_can_wake() const;
  std::uint64_t activity() const;

  // Timers.
  void run_timers(P* p, std::int64_t now, bool victim);
  std::int64_t earliest_timer() const;

  Config config_;
  StackArena arena_;
  std::vector<std::unique_ptr<P>> ps_;  // immutable after construction
  const int nprocs_;

  // mu_ guards: the global run queue, the idle P and M lists, all_ms_,
  // timer_sleeper_, the global free G list.
  mutable std::mutex mu_;
  GlobalRunQueue gq_;
  std::atomic<std::uint32_t> gq_size_{0};  // written under mu_, read racily as a hint
  P* pidle_ = nullptr;
  M* midle_ = nullptr;
  std::vector<std::unique_ptr<M>> all_ms_;
  M* timer_sleeper_ = nullptr;  // the idle M sleeping until sleep_until_
  int nmwaking_ = 0;            // Ms awake without a P, about to look for one
  int nmidling_ = 0;            // Ms that gave their P back and are on their way to stop_m
  std::vector<std::pair<P*, bool>> handoffs_;  // Ps start_m reserved for those Ms
  std::vector<G*> gfree_;                      // idle G units beyond the per-P caches
  std::atomic<std::size_t> n_gfree_{0};        // gfree_.size(), readable without mu_

  std::atomic<int> npidle_{0};             // Ps on the idle list
  std::atomic<int> nmspinning_{0};         // Ms looking for work while holding a P
  std::atomic<int> nmidle_{0};             // Ms asleep
  std::atomic<std::int64_t> sleep_until_;  // timer_sleeper_'s deadline, or kNever
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> goid_gen_{1};
  std::atomic<std::uint64_t> foreign_unparks_{0};
  std::atomic<std::uint64_t> thread_parks_{0};
  std::atomic<std::uint64_t> thread_wakes_{0};

  std::unique_ptr<Netpoll> netpoll_;
  std::atomic<M*> netpoll_m_{nullptr};  // the idle M blocked in the netpoller; set under mu_
  std::atomic<bool> main_running_{false};
  std::atomic<int> external_wakers_{0};      // foreign threads that may ready() Gs
  std::atomic<int> nblocking_{0};            // goroutines inside blocking()
  std::atomic<int> nonexternal_waiting_{0};  // parked Gs a timer/IO/thread will wake
  std::atomic<std::uint64_t> long_running_{0};

  // sysmon's thread and its wake-up; per-P observations are sysmon-only.
  std::thread sysmon_;
  Note sysmon_note_;
  std::atomic<bool> sysmon_sleeping_{false};
  struct PWatch {
    std::uint64_t switches = 0;
    std::int64_t since_ns = 0;
    bool reported = false;
    std::uint64_t blocking_calls = 0;
    std::int64_t blocking_since_ns = 0;
  };
  std::vector<PWatch> watch_;

  mutable std::mutex all_mu_;
  G* all_gs_ = nullptr;  // every unit ever created; guarded by all_mu_
};

// The Sched of the calling goroutine's runtime, else the current runtime's,
// else fatal.
Sched& sched_for_caller();

// G -> g0 with an action for g0 to carry out once the G's context is saved.
// From the running goroutine g only.
void switch_to_g0(G* g, MAction action);

// SIGQUIT prints every registered runtime's goroutines and exits 2 (sysmon.cpp).
void register_for_sigquit(Sched* s);
void unregister_for_sigquit(Sched* s);

}  // namespace skein::detail
