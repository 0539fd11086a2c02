// The task records that travel between the spawning process (the owner of the
// task) and whatever runs it: TaskSpec goes out, TaskCompletion comes back.
//
// In local mode both stay in this process; in cluster mode the transport
// carries them in its stream messages (the fields map 1:1 onto the wire).
// Arguments and results are opaque cereal binary archives (detail/serialize.hpp)
// produced and consumed only by the two ends, so the transport and the
// coordinator never need the user's types.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "skein/remote_error.hpp"
#include "skein/spawn_options.hpp"

namespace skein::detail {

struct TaskSpec {
  std::uint64_t task_id = 0;  // unique in the owner process, never reused
  std::uint32_t attempt = 1;  // 1 for the first run, +1 per retry
  std::string function;       // SKEIN_REMOTE name
  std::string args;           // archive of std::tuple<decayed parameters...>
  SpawnOptions options;
  // Absolute deadline on the owner's steady clock, or time_point::max().
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool wants_result = true;  // false for spawn(wg, ...): the value is dropped
};

// What running one attempt produced.
struct TaskOutcome {
  TaskError error = TaskError::kNone;
  std::string result;     // archive of the return value (empty for void)
  std::string type_name;  // kException: demangled exception type
  std::string message;    // kException: what(); otherwise the reason
  std::string node;       // who ran it ("local" in local mode)
};

struct TaskCompletion {
  std::uint64_t task_id = 0;
  std::uint32_t attempt = 0;
  TaskOutcome outcome;
};

}  // namespace skein::detail
