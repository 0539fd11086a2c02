// Chan<T>: a typed channel through which goroutines communicate (Go's chan).
//
// A channel is a FIFO of capacity cap (fixed at creation) plus two queues of
// parked goroutines: senders waiting for room and receivers waiting for a
// value. cap == 0 is an unbuffered channel: every send is a rendezvous with a
// receive.
//
//   skein::Chan<int> ch(16);                 // buffered; Chan<int>(0) is unbuffered
//   skein::go([ch] {                         // a Chan is a cheap shared handle
//     for (int i = 0; i < 100; ++i) ch.send(i);
//     ch.close();
//   });
//   for (int v : ch) use(v);                 // receives until closed and drained
//
// Operations (Go's semantics; "parks" means the goroutine, never the thread):
//   send(v)     parks until a receiver takes v or there is room in the buffer.
//               A send on a closed channel (also one closed while the sender
//               waits) is a panic: "send on closed channel", exit code 2.
//   recv()      parks until a value arrives; returns std::optional<T>: the
//               value, or std::nullopt once the channel is closed AND drained
//               (Go's `v, ok := <-ch` with ok == false; use value_or(T{}) for
//               Go's zero value). Buffered values are always delivered first.
//   try_send(v) / try_recv()  never park: ChanStatus::kWouldBlock instead.
//               try_send on a closed channel panics, like a select send case.
//   close()     no more sends; wakes every parked receiver (they see nullopt)
//               and every parked sender (they panic). A second close is a
//               panic, "close of closed channel"; closing the nil channel,
//               "close of nil channel". Panics print "fatal error: <message>"
//               with the goroutine, and exit with status 2.
//   len(), cap() elements buffered now (a racy snapshot), and the capacity.
//   for (T v : ch)  recv() until nullopt.
// A default-constructed Chan is the nil channel: send and recv on it park
// forever, close panics, and a select case on it is never ready (so setting a
// Chan to Chan() disables a select case, as in Go).
//
// Values are moved, never copied, inside the channel: send(T&&) moves from its
// argument only when the value was delivered or buffered, so a move-only T
// (unique_ptr, ...) works. T's move constructor must be noexcept: it runs
// under the channel lock.
//
// Happens-before (Go memory model): a send happens before the corresponding
// receive completes; the k-th receive on a channel of capacity C happens
// before the (k+C)-th send completes (for C == 0: a receive happens before the
// matching send completes); close happens before a receive that returns
// nullopt because of it. All of these come from the channel lock.
//
// A Chan is a handle with reference semantics, like a Go channel value: its
// operations are const (they change the channel, not the handle), and copies
// (e.g. captured by value in goroutine lambdas) all refer to one channel.
//
// Lifetime: the channel (and any values still buffered) lives while any handle
// does. The handle an operation is called on must outlive the call, as for any
// object; capture channels by value in goroutines. Only the sending side should
// close: the channels of Timer, Ticker, after() and Context::done() belong to
// the runtime and must not be closed by their users.
//
// Implementation: the non-template core (ChanCore, chan_core.cpp) handles
// elements through an ElemOps table (size, align, move, destroy), so this
// header stays small and every channel type shares one compiled algorithm.
// The invariants are stated at ChanCore.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "skein/detail/park.hpp"

namespace skein {

// Outcome of a non-blocking channel operation (STYLE habit 7b).
enum class ChanStatus : std::uint8_t {
  kOk,          // the value was transferred
  kClosed,      // try_recv: the channel is closed and drained
  kWouldBlock,  // no partner and no buffer room / value: the op would park
  kTimeout,     // recv_for / send_for (timer.hpp): the time ran out first
};

namespace detail {

// How the type-erased core handles one element type. move_construct
// constructs dst (raw storage) from src, leaving src moved-from but alive.
struct ElemOps {
  std::size_t size;
  std::size_t align;
  void (*move_construct)(void* dst, void* src) noexcept;
  void (*destroy)(void* obj) noexcept;
};

template <class T>
void elem_move_construct(void* dst, void* src) noexcept {
  ::new (dst) T(std::move(*static_cast<T*>(src)));
}
template <class T>
void elem_destroy(void* obj) noexcept {
  static_cast<T*>(obj)->~T();
}
template <class T>
inline constexpr ElemOps kElemOps{sizeof(T), alignof(T), &elem_move_construct<T>, &elem_destroy<T>};

// The channel lock: test-and-test-and-set that yields the thread after a short
// spin. Held only for a few dozen instructions and never across a park (park's
// unlock callback releases it), but the holder's OS thread can be preempted,
// so waiting forever in `pause` would waste the rest of a time slice.
class ChanLock {
 public:
  void lock() noexcept {
    if (!locked_.exchange(true, std::memory_order_acquire)) [[likely]] {
      return;
    }
    lock_slow();
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }
  static void unlock_fn(void* self) { static_cast<ChanLock*>(self)->unlock(); }

 private:
  void lock_slow() noexcept;
  std::atomic<bool> locked_{false};
};

struct SelectCaseRaw;
struct SelectScratch;

// Shared by every Waiter of one blocked select (Waiter::select_state): the
// first waker to CAS `winner` from nullptr to its Waiter owns the wake-up;
// later wakers find it taken, drop that stale Waiter and look further.
struct SelectState {
  std::atomic<Waiter*> winner{nullptr};
};
int select_impl(SelectCaseRaw* cases, int n, SelectScratch scratch, bool block, bool* recv_ok);

// The type-erased channel (Go's hchan). Reference-counted; Chan<T> is a handle.
//
// Invariants (all fields except refs_/ops_/cap_ are guarded by lock_):
//  - At least one of sendq_ and recvq_ is empty, except for stale select
//    waiters (whose select already has a winner) that a dequeue skips.
//  - cap_ > 0: a waiting sender implies the buffer is full (count == cap_);
//    a waiting receiver implies the buffer is empty.
//  - cap_ == 0: count == 0; values pass directly between the two goroutines.
//  - Slots [recvx_, recvx_ + count) (mod cap_) hold constructed elements; all
//    others are raw storage.
//  - closed_ never goes back to false; once closed, sendq_ is empty.
//  - A Waiter's elem points into its parked goroutine's stack: a sender's to
//    its constructed value, a receiver's to raw storage the waker constructs
//    (then sets success = true). Exactly one waker removes a Waiter from the
//    queue and readies its G (for select waiters: the one that wins the CAS
//    on the shared SelectState).
class ChanCore {
 public:
  static ChanCore* create(const ElemOps* ops, std::size_t cap);
  ChanCore(const ChanCore&) = delete;
  ChanCore& operator=(const ChanCore&) = delete;

  void ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void unref() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      destroy();
    }
  }

  // elem: a constructed element, moved from once sent. Panics if closed.
  void send(void* elem);
  // dst: raw storage; constructed iff it returns true (false: closed, drained).
  bool recv(void* dst);
  ChanStatus try_send(void* elem);
  ChanStatus try_recv(void* dst);
  void close();
  std::size_t len() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::size_t cap() const noexcept { return cap_; }

  // Nil channel operations: park forever.
  [[noreturn]] static void block_forever(WaitReason reason);
  [[noreturn]] static void close_nil();

 private:
  friend int select_impl(SelectCaseRaw* cases, int n, SelectScratch scratch, bool block,
                         bool* recv_ok);
  ChanCore(const ElemOps* ops, std::size_t cap, unsigned char* buf)
      : ops_(ops), cap_(cap), buf_(buf) {}
  void destroy() noexcept;
  void* slot(std::size_t i) const noexcept { return buf_ + i * ops_->size; }
  // The first waiter of q that can still be woken (removes it); nullptr if none.
  static Waiter* dequeue(WaitList& q) noexcept;
  // The transfers without parking; each requires lock_ and keeps it. On a
  // transfer they return true and set *wake to the partner to ready() once
  // the lock is released (nullptr if the buffer was the partner).
  bool send_locked(void* elem, Waiter** wake);  // requires !closed_
  bool recv_locked(void* dst, Waiter** wake);   // dst constructed on true
  static void ready_waiter(Waiter* w);

  std::atomic<std::int64_t> refs_{1};
  const ElemOps* const ops_;
  const std::size_t cap_;
  unsigned char* const buf_;  // cap_ slots of ops_->size bytes
  ChanLock lock_;
  std::atomic<std::size_t> count_{0};  // written under lock_; read racily by len()
  std::size_t sendx_ = 0;              // next slot to fill
  std::size_t recvx_ = 0;              // next slot to drain
  bool closed_ = false;
  WaitList recvq_;  // parked receivers (Waiter::elem = raw destination)
  WaitList sendq_;  // parked senders (Waiter::elem = value to send)
};

// Raw storage for one T received by the core.
template <class T>
struct RecvSlot {
  alignas(T) unsigned char bytes[sizeof(T)];
  T* get() noexcept { return std::launder(reinterpret_cast<T*>(bytes)); }
  // Moves the constructed value out and destroys it.
  std::optional<T> take() {
    T* p = get();
    std::optional<T> v(std::move(*p));
    p->~T();
    return v;
  }
};

}  // namespace detail

template <class T>
struct RecvResult {
  ChanStatus status = ChanStatus::kWouldBlock;
  std::optional<T> value;  // set iff status == kOk
  explicit operator bool() const noexcept { return status == ChanStatus::kOk; }
};

template <class T>
class Chan {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "Chan<T> moves elements under its lock: T's move constructor must be noexcept");
  static_assert(!std::is_reference_v<T> && !std::is_const_v<T>, "Chan<T>: T must be a value type");

 public:
  using value_type = T;

  // The nil channel.
  Chan() noexcept = default;
  // A channel buffering up to cap values (0: unbuffered).
  explicit Chan(std::size_t cap) : core_(detail::ChanCore::create(&detail::kElemOps<T>, cap)) {}

  Chan(const Chan& o) noexcept : core_(o.core_) {
    if (core_ != nullptr) {
      core_->ref();
    }
  }
  Chan(Chan&& o) noexcept : core_(std::exchange(o.core_, nullptr)) {}
  Chan& operator=(Chan o) noexcept {
    std::swap(core_, o.core_);
    return *this;
  }
  ~Chan() {
    if (core_ != nullptr) {
      core_->unref();
    }
  }

  // Sends v, parking until a receiver or buffer room takes it. v is moved
  // from only once delivered.
  void send(T&& v) const {
    if (core_ == nullptr) {
      detail::ChanCore::block_forever(detail::WaitReason::kChanSend);
    }
    core_->send(&v);
  }
  void send(const T& v) const requires std::is_copy_constructible_v<T> {
    T copy(v);
    send(std::move(copy));
  }

  // The next value, or nullopt once the channel is closed and drained.
  std::optional<T> recv() const {
    if (core_ == nullptr) {
      detail::ChanCore::block_forever(detail::WaitReason::kChanReceive);
    }
    detail::RecvSlot<T> slot;
    if (!core_->recv(slot.bytes)) {
      return std::nullopt;
    }
    return slot.take();
  }

  // kOk (v moved from) or kWouldBlock (v untouched). Panics if closed.
  ChanStatus try_send(T&& v) const {
    return core_ == nullptr ? ChanStatus::kWouldBlock : core_->try_send(&v);
  }
  ChanStatus try_send(const T& v) const requires std::is_copy_constructible_v<T> {
    T copy(v);
    return try_send(std::move(copy));
  }

  // kOk with a value, kWouldBlock, or kClosed (closed and drained).
  RecvResult<T> try_recv() const {
    RecvResult<T> r;
    if (core_ == nullptr) {
      return r;
    }
    detail::RecvSlot<T> slot;
    r.status = core_->try_recv(slot.bytes);
    if (r.status == ChanStatus::kOk) {
      r.value = slot.take();
    }
    return r;
  }

  void close() const {
    if (core_ == nullptr) {
      detail::ChanCore::close_nil();
    }
    core_->close();
  }

  std::size_t len() const noexcept { return core_ == nullptr ? 0 : core_->len(); }
  std::size_t cap() const noexcept { return core_ == nullptr ? 0 : core_->cap(); }

  // False for the nil channel.
  explicit operator bool() const noexcept { return core_ != nullptr; }
  // Same channel (Go's ==).
  friend bool operator==(const Chan& a, const Chan& b) noexcept { return a.core_ == b.core_; }

  // Input iteration: each ++ receives; end once closed and drained. *it
  // yields the received value as an rvalue (so `for (T v : ch)` moves it
  // out, and works for move-only T); bind it with T or auto&&.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = T*;
    using reference = T&&;

    iterator() = default;
    explicit iterator(const Chan* ch) : ch_(ch) { advance(); }
    T&& operator*() { return std::move(*cur_); }
    T* operator->() { return &*cur_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    void operator++(int) { advance(); }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return !it.cur_; }

   private:
    void advance() { cur_ = ch_->recv(); }
    const Chan* ch_ = nullptr;
    std::optional<T> cur_;
  };
  iterator begin() const { return iterator(this); }
  std::default_sentinel_t end() const { return {}; }

 private:
  template <class U>
  friend detail::ChanCore* chan_core(const Chan<U>& ch) noexcept;

  detail::ChanCore* core_ = nullptr;
};

// For select (select.hpp): the channel's core, nullptr for nil.
template <class U>
detail::ChanCore* chan_core(const Chan<U>& ch) noexcept {
  return ch.core_;
}

}  // namespace skein
