// The one way to block a goroutine and the one way to wake it (STYLE habit 6).
//
// Internal to Skein's own synchronization types (channels, mutexes, wait
// groups, timers, futures): user code never calls these.
//
// park(unlock, arg, reason) marks the current G waiting, switches to the M's
// scheduler context and only there calls unlock(arg). Whatever lock protected
// the wait queue the G put itself on is therefore released after the G's
// context is saved, so a waker that takes that lock and calls ready(g) can
// never resume a G that has not finished switching out: no lost wake-ups, no
// double runs.
//
// ready(g) makes a waiting G runnable: it goes to the waker's P `runnext` slot
// (a receiver woken by a sender runs next on the sender's P, as in Go) or, from
// a thread that is not a goroutine, to the global queue. Any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace skein::detail {

struct G;

// Why a goroutine is parked; shown by the goroutine dump.
enum class WaitReason : std::uint8_t {
  kNone = 0,
  kChanReceive,
  kChanSend,
  kSelect,
  kSelectNoCases,
  kMutex,
  kWaitGroup,
  kSemaphore,
  kSleep,
  kIO,
  kFuture,
  kCond,
  kBlocking,
  kOnce,
};
const char* wait_reason_name(WaitReason r);

// Parks the calling goroutine. Must be called from a goroutine.
// `unlock` runs on the scheduler stack after the G is marked waiting; it may be
// nullptr. Returns when some thread calls ready() for this G.
void park(void (*unlock)(void*), void* arg, WaitReason reason);

// Makes a parked G runnable. Calling it on a G that is not parked is fatal.
void ready(G* g);

// The running goroutine, or nullptr on a thread that is not running one.
G* current_g();

// True when the G's park counts toward deadlock detection: parked on a
// primitive only another goroutine can release (not a timer, I/O or blocking
// call). Set by the caller of park; defaults to true.
void set_park_external(bool external_waker);

// Registers (delta > 0) or unregisters a thread that is not a goroutine but
// may call ready() on the current runtime's goroutines (e.g. an RPC client's
// callback thread completing futures). While any is registered, deadlock
// detection stays quiet: it cannot see what such a thread will do.
void add_external_wakers(int delta);

// A test-and-test-and-set spin lock for wait queues: held for a handful of
// instructions, never across a park (park's unlock callback releases it).
class SpinLock {
 public:
  void lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) {
        __builtin_ia32_pause();
      }
    }
  }
  bool try_lock() noexcept { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }
  static void unlock_fn(void* self) { static_cast<SpinLock*>(self)->unlock(); }

 private:
  std::atomic<bool> locked_{false};
};

// An intrusive waiter (Go's sudog). It lives on the waiting goroutine's stack
// for the duration of one wait, so waiting never allocates.
// Invariant: a Waiter is linked into at most one WaitList, and only while its
// owner G is parked (or about to park) on that list's lock.
struct Waiter {
  G* g = nullptr;
  Waiter* next = nullptr;
  Waiter* prev = nullptr;
  void* elem = nullptr;          // value slot for channel hand-off
  bool success = false;          // channel: true if woken by a real transfer
  void* select_state = nullptr;  // select: shared "one winner" flag
  int case_index = -1;           // select: which case this waiter stands for
};

// FIFO of Waiters. Not thread-safe: guarded by the owner's lock.
class WaitList {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  void push_back(Waiter* w) noexcept {
    w->next = nullptr;
    w->prev = tail_;
    if (tail_ != nullptr) {
      tail_->next = w;
    } else {
      head_ = w;
    }
    tail_ = w;
  }
  Waiter* pop_front() noexcept {
    Waiter* w = head_;
    if (w != nullptr) {
      remove(w);
    }
    return w;
  }
  void remove(Waiter* w) noexcept {
    if (w->prev != nullptr) {
      w->prev->next = w->next;
    } else {
      head_ = w->next;
    }
    if (w->next != nullptr) {
      w->next->prev = w->prev;
    } else {
      tail_ = w->prev;
    }
    w->next = w->prev = nullptr;
  }
  Waiter* front() const noexcept { return head_; }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
};

}  // namespace skein::detail
