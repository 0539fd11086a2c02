// Stats snapshots: sums the per-P counters, counts goroutines by state.
#include <sstream>

#include "sched.hpp"

namespace skein::detail {

bool Sched::quiescent() const {
  if (npidle_.load(std::memory_order_acquire) != nprocs_) {
    return false;
  }
  return gq_size_.load(std::memory_order_acquire) == 0;
}

SchedStats Sched::stats() const {
  SchedStats s;
  s.procs = nprocs_;
  s.latency_ns.assign(kLatencyBuckets, 0);
  for (const auto& p : ps_) {
    s.spawned += p->spawned.get();
    s.finished += p->finished.get();
    s.context_switches += p->switches.get();
    s.steals += p->steals.get();
    s.stolen += p->stolen.get();
    s.parks += p->parks.get();
    s.unparks += p->unparks.get();
    s.local_runq.push_back(p->runq.size() + (p->runnext.load(std::memory_order_relaxed) ? 1 : 0));
    s.timers += p->timers.count();
    for (int i = 0; i < kLatencyBuckets; ++i) {
      s.latency_ns[i] += p->latency[i].get();
    }
  }
  s.unparks += foreign_unparks_.load(std::memory_order_relaxed);
  s.thread_parks = thread_parks_.load(std::memory_order_relaxed);
  s.long_running = long_running_.load(std::memory_order_relaxed);
  s.thread_wakes = thread_wakes_.load(std::memory_order_relaxed);
  s.busy_procs = nprocs_ - npidle_.load(std::memory_order_relaxed);
  s.idle_threads = nmidle_.load(std::memory_order_relaxed);
  s.global_runq = gq_size_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    s.threads = static_cast<std::int64_t>(all_ms_.size());
  }
  {
    std::lock_guard lock(all_mu_);
    for (const G* g = all_gs_; g != nullptr; g = g->all_next) {
      switch (g->status.load(std::memory_order_relaxed)) {
        case GStatus::kRunning:
          ++s.running;
          break;
        case GStatus::kRunnable:
          ++s.runnable;
          break;
        case GStatus::kWaiting:
          ++s.blocked;
          break;
        case GStatus::kIdle:
        case GStatus::kDead:
          break;
      }
    }
  }
  s.goroutines = s.running + s.runnable + s.blocked;
  s.stack_bytes_reserved = arena_.reserved_bytes();
  s.stack_bytes_resident = arena_.resident_bytes();
  return s;
}

}  // namespace skein::detail

namespace skein {

std::string SchedStats::to_string() const {
  std::ostringstream out;
  auto line = [&](const char* name, auto value) { out << name << ' ' << value << '\n'; };
  line("goroutines", goroutines);
  line("running", running);
  line("runnable", runnable);
  line("blocked", blocked);
  line("procs", procs);
  line("busy_procs", busy_procs);
  line("threads", threads);
  line("idle_threads", idle_threads);
  line("global_runq", global_runq);
  out << "local_runq";
  for (auto d : local_runq) {
    out << ' ' << d;
  }
  out << '\n';
  line("stack_bytes_reserved", stack_bytes_reserved);
  line("stack_bytes_resident", stack_bytes_resident);
  line("timers", timers);
  line("spawned", spawned);
  line("finished", finished);
  line("context_switches", context_switches);
  line("steals", steals);
  line("stolen", stolen);
  line("parks", parks);
  line("unparks", unparks);
  line("thread_parks", thread_parks);
  line("thread_wakes", thread_wakes);
  line("long_running", long_running);
  std::uint64_t samples = 0;
  for (auto c : latency_ns) {
    samples += c;
  }
  if (samples > 0) {
    // Median of the sampled scheduling latencies, to the bucket.
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < latency_ns.size(); ++i) {
      seen += latency_ns[i];
      if (seen * 2 >= samples) {
        line("sched_latency_p50_ns_lt", std::uint64_t{2} << i);
        break;
      }
    }
  }
  return out.str();
}

}  // namespace skein
