// Goroutine dump: one block per live goroutine, Go's traceback header style.
#include <ctime>
#include <sstream>

#include "sched.hpp"

namespace skein::detail {

std::string Sched::dump() const {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  const std::int64_t now = ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
  std::ostringstream out;
  std::lock_guard lock(all_mu_);
  for (const G* g = all_gs_; g != nullptr; g = g->all_next) {
    GStatus st = g->status.load(std::memory_order_acquire);
    if (st == GStatus::kIdle || st == GStatus::kDead) {
      continue;
    }
    out << "goroutine " << g->id << " [" << gstatus_name(st);
    if (st == GStatus::kWaiting) {
      out << ", " << wait_reason_name(g->wait_reason.load(std::memory_order_relaxed));
      std::int64_t waited_ms = (now - g->wait_since_ns.load(std::memory_order_relaxed)) / 1'000'000;
      if (waited_ms >= 60'000) {
        out << ", " << waited_ms / 60'000 << " minutes";
      } else {
        out << ", " << waited_ms << " ms";
      }
    }
    out << "]:\ncreated at " << g->site.file_name() << ':' << g->site.line() << " in "
        << g->site.function_name() << "\n\n";
  }
  return out.str();
}

}  // namespace skein::detail
