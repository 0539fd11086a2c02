// The non-template channel core (Go's chan.go): one lock, a ring buffer of
// type-erased elements, and the queues of parked senders and receivers.
//
// Every operation takes the lock, looks for a partner first (a parked
// goroutine on the opposite queue), then at the buffer, and only then parks.
// A value handed to a parked receiver is moved straight into that receiver's
// stack slot (Waiter::elem), never through the buffer; a receiver that finds a
// parked sender on a full buffer takes the head and moves the sender's value
// into the freed tail slot, so FIFO order holds across buffer and sendq.
//
// Waking: the waker removes the Waiter under the lock, writes the transfer and
// `success`, releases the lock and only then calls ready(). The parked side
// enqueued itself under the same lock and parks with the lock released by
// park's unlock callback, so a waker can never see a Waiter whose goroutine is
// not yet switched out (no lost wake-up, no ready() of a running G).
#include <sched.h>

#include <algorithm>
#include <new>

#include "panic.hpp"
#include "skein/chan.hpp"

namespace skein::detail {

namespace {
// Spins before yielding the thread: the holder is usually running on another
// core and done within a few hundred cycles.
constexpr int kLockSpins = 128;

std::size_t core_align(const ElemOps* ops) { return std::max(alignof(ChanCore), ops->align); }
std::size_t buf_offset(const ElemOps* ops) {
  return (sizeof(ChanCore) + ops->align - 1) / ops->align * ops->align;
}
}  // namespace

void ChanLock::lock_slow() noexcept {
  for (int spins = 0;; ++spins) {
    if (!locked_.load(std::memory_order_relaxed) &&
        !locked_.exchange(true, std::memory_order_acquire)) {
      return;
    }
    if (spins < kLockSpins) {
      __builtin_ia32_pause();
    } else {
      ::sched_yield();
    }
  }
}

ChanCore* ChanCore::create(const ElemOps* ops, std::size_t cap) {
  if (cap != 0 && ops->size > (SIZE_MAX / 2) / cap) {
    fatal("makechan: size out of range");
  }
  const std::size_t off = buf_offset(ops);
  const std::size_t bytes = off + cap * ops->size;
  // The plain allocator is faster; over-aligned element types need the other.
  void* mem = core_align(ops) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__
                  ? ::operator new(bytes)
                  : ::operator new(bytes, std::align_val_t(core_align(ops)));
  return ::new (mem) ChanCore(ops, cap, static_cast<unsigned char*>(mem) + off);
}

void ChanCore::destroy() noexcept {
  // No goroutine can be parked here: each parked one holds a handle.
  std::size_t n = count_.load(std::memory_order_relaxed);
  for (std::size_t i = 0, x = recvx_; i < n; ++i) {
    ops_->destroy(slot(x));
    if (++x == cap_) {
      x = 0;
    }
  }
  const std::size_t align = core_align(ops_);
  this->~ChanCore();
  if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
    ::operator delete(static_cast<void*>(this));
  } else {
    ::operator delete(static_cast<void*>(this), std::align_val_t(align));
  }
}

void ChanCore::block_forever(WaitReason reason) {
  // Go: an operation on a nil channel blocks forever. Nothing can wake it, so
  // it counts toward deadlock detection.
  park(nullptr, nullptr, reason);
  fatal("a goroutine blocked on a nil channel was woken");
}

void ChanCore::close_nil() { fatal("close of nil channel"); }

Waiter* ChanCore::dequeue(WaitList& q) noexcept {
  for (;;) {
    Waiter* w = q.pop_front();
    if (w == nullptr) {
      return nullptr;
    }
    if (w->select_state == nullptr) {
      return w;
    }
    // A select waiter: only the first case to fire may wake it. A stale one
    // (its select already won elsewhere) is simply dropped: the select
    // goroutine will find it unlinked when it cleans up.
    Waiter* expected = nullptr;
    if (static_cast<SelectState*>(w->select_state)
            ->winner.compare_exchange_strong(expected, w, std::memory_order_acq_rel,
                                             std::memory_order_acquire)) {
      return w;
    }
  }
}

void ChanCore::ready_waiter(Waiter* w) {
  // The waiter's goroutine stays parked until this ready(); after it, w (on
  // that goroutine's stack) must not be touched.
  if (w != nullptr) {
    ready(w->g);
  }
}

bool ChanCore::send_locked(void* elem, Waiter** wake) {
  if (Waiter* w = dequeue(recvq_)) {
    ops_->move_construct(w->elem, elem);
    w->success = true;
    *wake = w;
    return true;
  }
  const std::size_t n = count_.load(std::memory_order_relaxed);
  if (n < cap_) {
    ops_->move_construct(slot(sendx_), elem);
    if (++sendx_ == cap_) {
      sendx_ = 0;
    }
    count_.store(n + 1, std::memory_order_relaxed);
    *wake = nullptr;
    return true;
  }
  return false;
}

bool ChanCore::recv_locked(void* dst, Waiter** wake) {
  if (Waiter* w = dequeue(sendq_)) {
    if (cap_ == 0) {
      ops_->move_construct(dst, w->elem);
    } else {
      // A sender waits only on a full buffer: take the head, and put the
      // sender's value at the tail (the same slot, as the ring is full).
      void* head = slot(recvx_);
      ops_->move_construct(dst, head);
      ops_->destroy(head);
      ops_->move_construct(head, w->elem);
      if (++recvx_ == cap_) {
        recvx_ = 0;
      }
      sendx_ = recvx_;
    }
    w->success = true;
    *wake = w;
    return true;
  }
  const std::size_t n = count_.load(std::memory_order_relaxed);
  if (n > 0) {
    void* head = slot(recvx_);
    ops_->move_construct(dst, head);
    ops_->destroy(head);
    if (++recvx_ == cap_) {
      recvx_ = 0;
    }
    count_.store(n - 1, std::memory_order_relaxed);
    *wake = nullptr;
    return true;
  }
  return false;
}

void ChanCore::send(void* elem) {
  lock_.lock();
  if (closed_) {
    lock_.unlock();
    fatal("send on closed channel");
  }
  Waiter* wake = nullptr;
  if (send_locked(elem, &wake)) {
    lock_.unlock();
    ready_waiter(wake);
    return;
  }
  Waiter w;
  w.g = current_g();
  w.elem = elem;
  sendq_.push_back(&w);
  park(&ChanLock::unlock_fn, &lock_, WaitReason::kChanSend);
  if (!w.success) {
    fatal("send on closed channel");  // closed while we waited
  }
}

bool ChanCore::recv(void* dst) {
  lock_.lock();
  if (closed_ && count_.load(std::memory_order_relaxed) == 0) {
    lock_.unlock();
    return false;
  }
  Waiter* wake = nullptr;
  if (recv_locked(dst, &wake)) {
    lock_.unlock();
    ready_waiter(wake);
    return true;
  }
  Waiter w;
  w.g = current_g();
  w.elem = dst;
  recvq_.push_back(&w);
  park(&ChanLock::unlock_fn, &lock_, WaitReason::kChanReceive);
  return w.success;  // false: woken by close
}

ChanStatus ChanCore::try_send(void* elem) {
  lock_.lock();
  if (closed_) {
    lock_.unlock();
    fatal("send on closed channel");
  }
  Waiter* wake = nullptr;
  if (send_locked(elem, &wake)) {
    lock_.unlock();
    ready_waiter(wake);
    return ChanStatus::kOk;
  }
  lock_.unlock();
  return ChanStatus::kWouldBlock;
}

ChanStatus ChanCore::try_recv(void* dst) {
  lock_.lock();
  if (closed_ && count_.load(std::memory_order_relaxed) == 0) {
    lock_.unlock();
    return ChanStatus::kClosed;
  }
  Waiter* wake = nullptr;
  if (recv_locked(dst, &wake)) {
    lock_.unlock();
    ready_waiter(wake);
    return ChanStatus::kOk;
  }
  lock_.unlock();
  return ChanStatus::kWouldBlock;
}

void ChanCore::close() {
  lock_.lock();
  if (closed_) {
    lock_.unlock();
    fatal("close of closed channel");
  }
  closed_ = true;
  // Collect every waiter under the lock, wake them after releasing it.
  // Receivers get success == false (nullopt); senders panic when they wake.
  WaitList woken;
  while (Waiter* w = dequeue(recvq_)) {
    w->success = false;
    woken.push_back(w);
  }
  while (Waiter* w = dequeue(sendq_)) {
    w->success = false;
    woken.push_back(w);
  }
  lock_.unlock();
  while (Waiter* w = woken.pop_front()) {
    ready_waiter(w);
  }
}

}  // namespace skein::detail
