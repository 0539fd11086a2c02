// SpawnOptions: where and how a remote task may run (DESIGN §4, RELIABILITY R1).
//
//   using namespace std::chrono_literals;
//   skein::spawn(skein::SpawnOptions{.placement = skein::Placement::spread(),
//                                    .max_retries = 3,
//                                    .deadline = 5s},
//                SKEIN_FN(fib), 30);
//
// Placement is a request to the coordinator, which decides once per task:
//   least_loaded()   (default) the node with the fewest runnable goroutines per
//                    P, preferring the spawning node on ties;
//   local_first()    stay on the spawning node until its Ps are saturated,
//                    then spill to others;
//   spread()         round-robin over the nodes that fit;
//   pinned(node)     exactly that node (fails at once if it does not exist).
// Resources are requirements a node must meet; a task no node can ever satisfy
// fails at once with TaskError::kUnplaceable. When the binary runs outside a
// cluster every task runs in this process: placement and resources are
// recorded in the task (and visible in its TaskSpec) but not enforced.
//
// Retries (R1): a system failure (worker or node lost) re-runs the task up to
// max_retries more times (a negative max_retries: no limit); an exception
// thrown by the task is retried only when retry_exceptions is set. Every
// attempt carries the same task id, and the owner counts the task exactly
// once. Poison tasks (R4): a task whose worker died under it three times
// fails with TaskError::kPoisoned instead of a fourth run, whatever budget is
// left, so one crashing task cannot take down worker after worker.
//
// deadline: measured from the spawn, over all attempts; when it passes the
// future (or the DistWaitGroup) fails with TaskError::kDeadlineExceeded even if
// the task is still running (its late result is ignored). Zero: no deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace skein {

class Placement {
 public:
  enum class Kind : std::uint8_t { kLeastLoaded = 0, kLocalFirst = 1, kSpread = 2, kPinned = 3 };

  Placement() = default;  // least_loaded
  static Placement least_loaded() { return Placement(Kind::kLeastLoaded, {}); }
  static Placement local_first() { return Placement(Kind::kLocalFirst, {}); }
  static Placement spread() { return Placement(Kind::kSpread, {}); }
  static Placement pinned(std::string node) { return Placement(Kind::kPinned, std::move(node)); }

  Kind kind() const noexcept { return kind_; }
  // The node of pinned(); empty otherwise.
  const std::string& node() const noexcept { return node_; }
  // "least_loaded", "local_first", "spread", "pinned(node-2)".
  std::string to_string() const;

  friend bool operator==(const Placement&, const Placement&) = default;

 private:
  Placement(Kind kind, std::string node) : kind_(kind), node_(std::move(node)) {}
  Kind kind_ = Kind::kLeastLoaded;
  std::string node_;
};

struct Resources {
  double cpus = 0;                    // Ps the task expects to keep busy; 0: no requirement
  std::uint64_t memory_bytes = 0;     // free memory the node must have; 0: none
  std::vector<std::string> labels{};  // every label must be on the node
};

struct SpawnOptions {
  Placement placement{};
  Resources resources{};
  int max_retries = 3;            // extra attempts after a failed one (0: none, < 0: no limit)
  bool retry_exceptions = false;  // also retry when the task throws
  std::chrono::steady_clock::duration deadline{0};  // zero: none
};

}  // namespace skein
