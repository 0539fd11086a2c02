// select's core (Go's selectgo): lock every channel in address order, poll
// the cases in a random permutation, and if none is ready enqueue a Waiter per
// case, all sharing one SelectState, then park.
//
// One winner: every counterpart (a send, a receive, a close) removes a select
// Waiter from its queue only after winning the CAS on SelectState::winner
// (ChanCore::dequeue). The loser CASes fail, so they drop the stale Waiter and
// look further: exactly one case fires and the goroutine is readied once.
//
// After waking, the goroutine re-locks every channel and unlinks its other
// Waiters (a Waiter is linked iff prev != nullptr or it heads its queue); only
// then may they leave its stack.
//
// Rejected: polling each channel under its own lock one after another (a case
// could become ready on a channel already polled: lost wake-up), and a global
// select lock (serializes every select in the process).
#include <x86intrin.h>

#include "panic.hpp"
#include "skein/select.hpp"

namespace skein::detail {

namespace {

// splitmix64: a fast, well-mixed stream; seeded per call from the cycle
// counter, so no thread-local state is needed (STYLE habit 10).
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

// The distinct channels, in address order, and the callback that releases
// them for park.
struct LockSet {
  ChanCore** locks;
  int n;
};

bool linked(const WaitList& q, const Waiter* w) { return w->prev != nullptr || q.front() == w; }

}  // namespace

// Friend of ChanCore (declared in chan.hpp).
int select_impl(SelectCaseRaw* cases, int n, SelectScratch scratch, bool block, bool* recv_ok) {
  std::uint16_t* poll = scratch.order;
  std::uint16_t* lock_order = scratch.order + n;

  // Random poll order (Fisher-Yates), and lock order by channel address with
  // duplicates and nil channels removed.
  Rng rng{__rdtsc() ^ reinterpret_cast<std::uintptr_t>(cases)};
  int nlock = 0;
  for (int i = 0; i < n; ++i) {
    const int j = static_cast<int>(rng.next() % static_cast<std::uint64_t>(i + 1));
    poll[i] = poll[j];
    poll[j] = static_cast<std::uint16_t>(i);
    if (cases[i].chan != nullptr) {
      lock_order[nlock++] = static_cast<std::uint16_t>(i);
    }
  }
  for (int i = 1; i < nlock; ++i) {
    const std::uint16_t x = lock_order[i];
    int j = i - 1;
    while (j >= 0 && cases[lock_order[j]].chan > cases[x].chan) {
      lock_order[j + 1] = lock_order[j];
      --j;
    }
    lock_order[j + 1] = x;
  }
  ChanCore** locks = scratch.locks;
  int nlocks = 0;
  for (int i = 0; i < nlock; ++i) {
    ChanCore* c = cases[lock_order[i]].chan;
    if (nlocks == 0 || locks[nlocks - 1] != c) {
      locks[nlocks++] = c;
    }
  }
  auto lock_all = [&] {
    for (int i = 0; i < nlocks; ++i) {
      locks[i]->lock_.lock();
    }
  };
  auto unlock_all = [&] {
    for (int i = nlocks - 1; i >= 0; --i) {
      locks[i]->lock_.unlock();
    }
  };

  if (nlocks == 0) {
    if (!block) {
      return -1;
    }
    // Go's `select {}`: nothing can ever wake us.
    park(nullptr, nullptr, WaitReason::kSelectNoCases);
    fatal("a goroutine blocked in an empty select was woken");
  }

  lock_all();

  // Pass 1: the first ready case in poll order fires.
  for (int k = 0; k < n; ++k) {
    const int i = poll[k];
    SelectCaseRaw& c = cases[i];
    ChanCore* ch = c.chan;
    if (ch == nullptr) {
      continue;
    }
    Waiter* wake = nullptr;
    if (c.is_send) {
      if (ch->closed_) {
        unlock_all();
        fatal("send on closed channel");
      }
      if (ch->send_locked(c.elem, &wake)) {
        unlock_all();
        ChanCore::ready_waiter(wake);
        return i;
      }
    } else {
      if (ch->recv_locked(c.elem, &wake)) {
        unlock_all();
        ChanCore::ready_waiter(wake);
        *recv_ok = true;
        return i;
      }
      if (ch->closed_) {
        unlock_all();
        *recv_ok = false;
        return i;
      }
    }
  }

  if (!block) {
    unlock_all();
    return -1;
  }

  // Pass 2: enqueue on every channel, then park releasing every lock.
  SelectState state;
  G* g = current_g();
  for (int k = 0; k < nlock; ++k) {
    const int i = lock_order[k];
    SelectCaseRaw& c = cases[i];
    Waiter& w = scratch.waiters[i];
    w.g = g;
    w.elem = c.elem;
    w.success = false;
    w.select_state = &state;
    w.case_index = i;
    (c.is_send ? c.chan->sendq_ : c.chan->recvq_).push_back(&w);
  }
  LockSet set{locks, nlocks};
  park(
      [](void* arg) {
        // Runs on the scheduler stack once we are switched out. As soon as the
        // first lock is released a waker may ready us, and we may then run on
        // another thread and re-lock; `set` lives on our stack, so copy what
        // the loop needs first and touch nothing after the last unlock.
        auto* s = static_cast<LockSet*>(arg);
        ChanCore** l = s->locks;
        for (int i = s->n - 1; i >= 0; --i) {
          l[i]->lock_.unlock();
        }
      },
      &set, WaitReason::kSelect);

  // Pass 3: the winner was dequeued by its waker; unlink the rest.
  Waiter* winner = state.winner.load(std::memory_order_acquire);
  lock_all();
  for (int k = 0; k < nlock; ++k) {
    const int i = lock_order[k];
    Waiter& w = scratch.waiters[i];
    if (&w == winner) {
      continue;
    }
    WaitList& q = cases[i].is_send ? cases[i].chan->sendq_ : cases[i].chan->recvq_;
    if (linked(q, &w)) {
      q.remove(&w);
    }
  }
  unlock_all();

  if (winner == nullptr) {
    fatal("select woken without a winning case");
  }
  if (cases[winner->case_index].is_send) {
    if (!winner->success) {
      fatal("send on closed channel");  // closed while we waited
    }
  } else {
    *recv_ok = winner->success;
  }
  return winner->case_index;
}

}  // namespace skein::detail
