// skein::run in a job binary: local mode vs cluster mode.
//
// The scheduler's skein::run calls a hook when one is registered; this file
// registers it at static-initialization time. The hook always builds the
// Runtime itself (from SKEIN_* environment as usual) and runs main on it;
// in cluster mode it additionally holds an AgentLink for the duration, which
// reports this runtime's stats to the node agent. The stats reporting is
// best-effort: if the agent cannot be reached the program still runs, with a
// one-line warning on stderr.
#include <atomic>
#include <cstdio>
#include <functional>
#include <optional>

#include "skein/runtime.hpp"
#include "skein/skein.hpp"
#include "worker/agent_link.hpp"

// Anchors that keep this object file in every program linking libskein: the
// C++ one is referenced by <skein/skein.hpp>, the C one by the link option
// `--undefined=skein_cluster_run_hook_anchor` that skein::skein carries, so
// even a program that includes only <skein/sched.hpp> gets cluster mode.
extern "C" {
extern const int skein_cluster_run_hook_anchor;
const int skein_cluster_run_hook_anchor = 1;
}

namespace skein {
namespace detail {
const int cluster_run_hook_anchor = 1;
}  // namespace detail

namespace {

std::atomic<bool> g_connected{false};

int cluster_aware_run(int /*argc*/, char** /*argv*/, std::function<int()>& main_fn) {
  Runtime runtime(Config::from_env());
  std::optional<cluster::WorkerContext> ctx = cluster::context_from_env();
  if (!ctx) {
    return runtime.run(std::move(main_fn));
  }
  node::AgentLink link(*ctx);
  if (absl::Status s = link.connect(); !s.ok()) {
    std::fprintf(stderr, "skein: cannot report to the node agent (%s); running without stats\n",
                 std::string(s.message()).c_str());
  } else {
    g_connected.store(true, std::memory_order_relaxed);
    link.start_reporting([&runtime] { return runtime.stats(); });
  }
  const int rc = runtime.run(std::move(main_fn));
  link.stop();
  g_connected.store(false, std::memory_order_relaxed);
  return rc;
}

[[maybe_unused]] const bool g_hook_registered = [] {
  detail::set_run_hook(&cluster_aware_run);
  return true;
}();

}  // namespace

bool cluster::connected_to_agent() { return g_connected.load(std::memory_order_relaxed); }

}  // namespace skein
