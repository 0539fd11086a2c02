// SchedStats: a point-in-time snapshot of one runtime's scheduler.
//
// Counters are monotonic since the runtime started; gauges are values "now".
// Per-P counters are plain fields written only by their owner P and summed
// when a snapshot is taken, so keeping them costs no atomic read-modify-write
// on the hot path (STYLE habit 16). A snapshot is therefore not an atomic cut:
// totals may be off by the few events in flight while it is taken.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace skein {

struct SchedStats {
  // Gauges.
  std::int64_t goroutines = 0;            // alive (spawned, not finished)
  std::int64_t running = 0;               // on an M right now
  std::int64_t runnable = 0;              // in a run queue
  std::int64_t blocked = 0;               // parked: chan, mutex, wait group, timer, I/O
  std::int64_t procs = 0;                 // P count
  std::int64_t busy_procs = 0;            // Ps held by an M that is running goroutines
  std::int64_t threads = 0;               // Ms (OS threads) created
  std::int64_t idle_threads = 0;          // Ms parked
  std::int64_t global_runq = 0;           // depth of the global run queue
  std::vector<std::int64_t> local_runq;   // depth of each P's local run queue
  std::int64_t stack_bytes_reserved = 0;  // virtual bytes of all goroutine stacks
  std::int64_t stack_bytes_resident = 0;  // of which resident in RAM (mincore)
  std::int64_t timers = 0;                // armed timers
  // Counters.
  std::uint64_t spawned = 0;
  std::uint64_t finished = 0;
  std::uint64_t context_switches = 0;  // a G was switched onto an M
  std::uint64_t steals = 0;            // successful steals of run queue halves
  std::uint64_t stolen = 0;            // goroutines moved by those steals
  std::uint64_t parks = 0;             // goroutines parked
  std::uint64_t unparks = 0;           // goroutines made runnable by ready()
  std::uint64_t thread_parks = 0;      // Ms that went to sleep for lack of work
  std::uint64_t thread_wakes = 0;      // Ms woken because work appeared
  std::uint64_t long_running = 0;      // Gs seen running > 10 ms without a yield point
  // Scheduling latency (runnable -> running), log2 buckets of nanoseconds:
  // latency_ns[i] counts waits in [2^i, 2^(i+1)) ns; sampled 1 in 64.
  std::vector<std::uint64_t> latency_ns;

  // One line per field, "name value", for logs and tests.
  std::string to_string() const;
};

}  // namespace skein
