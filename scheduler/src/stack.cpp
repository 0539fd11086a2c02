#include "stack.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>

#include "current.hpp"
#include "panic.hpp"

namespace skein::detail {

namespace {

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Guard pages left in the process-wide mapping budget. Each guarded unit
// splits its slab's mapping into two more VMAs.
std::atomic<std::int64_t>& guard_budget() {
  static std::atomic<std::int64_t> budget = [] {
    std::int64_t max_maps = 65530;
    std::ifstream f("/proc/sys/vm/max_map_count");
    f >> max_maps;
    return std::int64_t{max_maps / 4};
  }();
  return budget;
}

bool take_guard() {
  auto& b = guard_budget();
  std::int64_t left = b.load(std::memory_order_relaxed);
  while (left > 0) {
    if (b.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

// Linux 6.13+ can install a guard page without splitting the mapping
// (MADV_GUARD_INSTALL): no VMA cost, so every stack gets one. Older kernels
// (Debian 12's 6.1) answer EINVAL; then guard pages come from the budget.
constexpr int kMadvGuardInstall = 102;
std::atomic<bool> madv_guard_works{true};

bool install_guard(void* page) {
  if (madv_guard_works.load(std::memory_order_relaxed)) {
    if (::madvise(page, kPageSize, kMadvGuardInstall) == 0) {
      return true;
    }
    madv_guard_works.store(false, std::memory_order_relaxed);
  }
  return take_guard() && ::mprotect(page, kPageSize, PROT_NONE) == 0;
}

}  // namespace

StackArena::StackArena(std::size_t stack_size, bool guard_pages)
    : stack_size_(round_up(stack_size < 16 * 1024 ? 16 * 1024 : stack_size, kPageSize)),
      unit_size_(stack_size_ + kPageSize),
      guard_pages_(guard_pages) {}

StackArena::~StackArena() {
  for (void* slab : slabs_) {
    ::munmap(slab, unit_size_ * kSlabUnits);
  }
}

G* StackArena::new_unit(Sched* sched) {
  char* unit = nullptr;
  {
    std::lock_guard lock(mu_);
    if (next_in_slab_ == kSlabUnits) {
      void* slab = ::mmap(nullptr, unit_size_ * kSlabUnits, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (slab == MAP_FAILED) {
        fatal("out of memory: cannot reserve %zu bytes of goroutine stacks: %s",
              unit_size_ * kSlabUnits, std::strerror(errno));
      }
      slabs_.push_back(slab);
      next_in_slab_ = 0;
    }
    unit = static_cast<char*>(slabs_.back()) + unit_size_ * next_in_slab_++;
  }
  bool guarded = guard_pages_ && install_guard(unit);
  // Unguarded units keep their lowest bytes as the zero canary zone.
  char* stack_lo = unit + kPageSize;
  char* unit_end = unit + unit_size_;
  G* g = ::new (unit_end - round_up(sizeof(G), 64)) G();
  g->sched = sched;
  g->stack_lo = stack_lo;
  g->stack_size = static_cast<std::size_t>(reinterpret_cast<char*>(g) - stack_lo);
  g->guarded = guarded;
  g->fiber.tsan_fiber = tsan_create_fiber();
  return g;
}

std::int64_t StackArena::reserved_bytes() const {
  std::lock_guard lock(mu_);
  return static_cast<std::int64_t>(slabs_.size() * kSlabUnits * unit_size_);
}

std::int64_t StackArena::resident_bytes() const {
  std::lock_guard lock(mu_);
  const std::size_t bytes = unit_size_ * kSlabUnits;
  std::vector<unsigned char> vec(bytes / kPageSize);
  slab_resident_.resize(slabs_.size(), 0);
  // At most kSlabsPerSample slabs are measured per call, round robin: a
  // stats sample once a second must not cost a process with thousands of
  // slabs (a task worker after a burst of 100k tasks) a tenth of a core.
  const std::size_t n = std::min(slabs_.size(), kSlabsPerSample);
  for (std::size_t i = 0; i < n; ++i) {
    scan_cursor_ = scan_cursor_ >= slabs_.size() ? 0 : scan_cursor_;
    const std::size_t k = scan_cursor_++;
    if (::mincore(slabs_[k], bytes, vec.data()) != 0) {
      continue;
    }
    std::int64_t resident = 0;
    for (unsigned char v : vec) {
      resident += (v & 1) * static_cast<std::int64_t>(kPageSize);
    }
    slab_resident_[k] = resident;
  }
  std::int64_t total = 0;
  for (std::int64_t r : slab_resident_) {
    total += r;
  }
  return total;
}

bool StackArena::in_guard(const G* g, const void* addr) {
  auto a = reinterpret_cast<std::uintptr_t>(addr);
  auto lo = reinterpret_cast<std::uintptr_t>(g->stack_lo);
  // The guard page, plus a little below it: a big frame can skip past a page.
  return a < lo + kCanaryBytes && a + 16 * kPageSize >= lo;
}

namespace {

void overflow_handler(int sig, siginfo_t* info, void* /*ucontext*/) {
  // si_code <= 0: sent by kill/raise, not a fault; si_addr means nothing.
  const bool fault = info->si_code > 0;
  G* g = current_running_g();
  if (fault && g != nullptr && StackArena::in_guard(g, info->si_addr)) {
    report_stack_overflow(g);  // does not return
  }
  // Not ours: restore the default action so the process dies with the real
  // signal (and a core, if enabled). A fault recurs when the handler returns;
  // a sent signal would not, so it is sent again (blocked until we return).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  if (!fault) {
    ::raise(sig);
  }
}

}  // namespace

void* install_overflow_handler_on_this_thread() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = overflow_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSEGV, &sa, nullptr);
    ::sigaction(SIGBUS, &sa, nullptr);
  });
  // One alternate signal stack per M: the overflow handler cannot run on the
  // goroutine stack that just overflowed.
  constexpr std::size_t kAltStack = 64 * 1024;
  stack_t ss{};
  ss.ss_sp = std::malloc(kAltStack);
  ss.ss_size = kAltStack;
  ss.ss_flags = 0;
  if (ss.ss_sp != nullptr) {
    ::sigaltstack(&ss, nullptr);
  }
  return ss.ss_sp;
}

void remove_alt_stack(void* alt_stack) {
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  ::sigaltstack(&ss, nullptr);
  std::free(alt_stack);
}

}  // namespace skein::detail
