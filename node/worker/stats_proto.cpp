#include "worker/stats_proto.hpp"

#include <chrono>

namespace skein::node {

void to_proto(const SchedStats& in, skein::v1::SchedStats* out) {
  out->set_goroutines(in.goroutines);
  out->set_running(in.running);
  out->set_runnable(in.runnable);
  out->set_blocked(in.blocked);
  out->set_procs(in.procs);
  out->set_busy_procs(in.busy_procs);
  out->set_threads(in.threads);
  out->set_idle_threads(in.idle_threads);
  out->set_global_runq(in.global_runq);
  out->clear_local_runq();
  for (auto q : in.local_runq) {
    out->add_local_runq(q);
  }
  out->set_stack_bytes_reserved(in.stack_bytes_reserved);
  out->set_stack_bytes_resident(in.stack_bytes_resident);
  out->set_timers(in.timers);
  out->set_spawned(in.spawned);
  out->set_finished(in.finished);
  out->set_context_switches(in.context_switches);
  out->set_steals(in.steals);
  out->set_stolen(in.stolen);
  out->set_parks(in.parks);
  out->set_unparks(in.unparks);
  out->set_thread_parks(in.thread_parks);
  out->set_thread_wakes(in.thread_wakes);
  out->set_long_running(in.long_running);
  out->clear_latency_ns();
  for (auto b : in.latency_ns) {
    out->add_latency_ns(b);
  }
  out->set_sampled_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
}

}  // namespace skein::node
