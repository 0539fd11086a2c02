// park/ready/yield entry points, and the stand-in G that lets a plain thread
// wait on Skein primitives (a test's main thread, a gRPC callback thread).
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

#include "current.hpp"
#include "panic.hpp"
#include "sched.hpp"
#include "skein/detail/park.hpp"
#include "skein/go.hpp"

namespace skein::detail {

namespace {

G* foreign_g() {
  thread_local G g;
  if (!g.foreign_thread) {
    g.foreign_thread = true;
    g.status.store(GStatus::kRunning, std::memory_order_relaxed);
  }
  return &g;
}

thread_local bool tls_park_external = true;

}  // namespace

const char* wait_reason_name(WaitReason r) {
  switch (r) {
    case WaitReason::kNone:
      return "";
    case WaitReason::kChanReceive:
      return "chan receive";
    case WaitReason::kChanSend:
      return "chan send";
    case WaitReason::kSelect:
      return "select";
    case WaitReason::kSelectNoCases:
      return "select (no cases)";
    case WaitReason::kMutex:
      return "sync.Mutex.Lock";
    case WaitReason::kWaitGroup:
      return "sync.WaitGroup.Wait";
    case WaitReason::kSemaphore:
      return "semacquire";
    case WaitReason::kSleep:
      return "sleep";
    case WaitReason::kIO:
      return "IO wait";
    case WaitReason::kFuture:
      return "future";
    case WaitReason::kCond:
      return "sync.Cond.Wait";
    case WaitReason::kBlocking:
      return "blocking call";
    case WaitReason::kOnce:
      return "sync.Once";
  }
  return "?";
}

G* current_g() {
  if (G* g = current_running_g()) {
    return g;
  }
  if (M* m = current_m(); m != nullptr) {
    fatal("a Skein primitive blocked on a scheduler thread outside any goroutine");
  }
  return foreign_g();
}

void set_park_external(bool external_waker) { tls_park_external = external_waker; }

void add_external_wakers(int delta) { sched_for_caller().add_external_wakers(delta); }

void park(void (*unlock)(void*), void* arg, WaitReason reason) {
  G* g = current_g();
  if (g->foreign_thread) {
    // A plain thread: mark waiting, release the queue lock, sleep on a futex
    // until ready() flips the status back.
    g->wake_word.store(0, std::memory_order_relaxed);
    g->wait_reason.store(reason, std::memory_order_relaxed);
    g->transition(GStatus::kRunning, GStatus::kWaiting);
    if (unlock != nullptr) {
      unlock(arg);
    }
    while (g->wake_word.load(std::memory_order_acquire) == 0) {
      ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&g->wake_word), FUTEX_WAIT_PRIVATE, 0,
                nullptr, nullptr, 0);
    }
    g->transition(GStatus::kRunnable, GStatus::kRunning);
    return;
  }
  g->park_external = tls_park_external;
  tls_park_external = true;
  g->sched->park(g, unlock, arg, reason);
}

void ready(G* g) {
  if (g->foreign_thread) {
    g->transition(GStatus::kWaiting, GStatus::kRunnable);
    g->wake_word.store(1, std::memory_order_release);
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&g->wake_word), FUTEX_WAKE_PRIVATE, 1,
              nullptr, nullptr, 0);
    return;
  }
  g->sched->ready(g);
}

Sched& sched_for_caller() {
  if (M* m = current_m()) {
    return *m->sched;
  }
  if (Runtime* rt = current_runtime()) {
    return rt->sched();
  }
  fatal("skein::go called outside a running runtime (use skein::run or Runtime::run)");
}

G* new_g(std::size_t size, std::size_t align, void (*invoke)(void*), void** closure,
         const std::source_location& site) {
  return sched_for_caller().new_g(size, align, invoke, closure, site);
}

void start_g(G* g) { g->sched->start_g(g); }

}  // namespace skein::detail

namespace skein {

void yield() {
  detail::G* g = detail::current_running_g();
  if (g == nullptr) {
    std::this_thread::yield();
    return;
  }
  g->sched->yield(g);
}

std::uint64_t goroutine_id() {
  detail::G* g = detail::current_running_g();
  return g != nullptr ? g->id : 0;
}

}  // namespace skein
