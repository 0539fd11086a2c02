// skein::run in a job binary: local mode vs cluster mode.
//
// The scheduler's skein::run calls a hook when one is registered; this file
// registers it at static-initialization time. The hook always builds the
// Runtime itself (from SKEIN_* environment as usual). Outside a cluster (no
// SKEIN_AGENT_SOCKET / SKEIN_JOB_ID) it just runs main on it, and spawned
// tasks run in this process (LocalTransport).
//
// In cluster mode it connects to the node agent (AgentLink: hello, then one
// socket for everything) and installs the ClusterTransport before any
// goroutine runs, in both roles:
//   - driver (SKEIN_WORKER_ROLE unset or "driver"): runs main; spawns go to
//     the agent, results come back on the link; stats samples as asked.
//   - task worker (SKEIN_WORKER_ROLE=task): never calls main_fn; runs every
//     task the agent places here (TaskRunner) until Terminate or the end of
//     the socket, then returns 0. Its tasks may spawn tasks of their own,
//     which this process then owns.
// The link's reader thread dispatches AgentToWorker frames: results and
// wait-group deltas to the transport, tasks to the runner, Terminate to the
// stop signal. While it
// runs it counts as an external waker, so a main goroutine waiting for remote
// results is not mistaken for a deadlock.
//
// A task worker is ended with SIGTERM when its job ends (the agent's cancel,
// SIGKILL after a grace). Its stdout is a pipe, so fully buffered: what its
// tasks printed without a newline or fflush would die in the buffer. So in
// the task role SIGTERM is caught (unless the program set its own handler):
// the handler only writes a byte to a pipe (async-signal-safe); a thread
// waiting on it flushes every stdio stream and re-raises SIGTERM with the
// default action, so the exit status stays "killed by signal 15". std::cout
// and std::cerr are covered as long as they are synced with stdio (the
// default). Rejected: flushing inside the handler (stdio locks are not
// async-signal-safe: a task interrupted inside printf would deadlock it);
// exiting normally on SIGTERM (static destructors would run while tasks
// still run on other threads).
//
// The hello is retried for about 1.5 s (an agent may refuse a worker it has
// not recorded yet). If a driver still cannot reach its agent it runs, with
// every task in this process (a one-line warning on stderr); a task worker
// that cannot is useless and exits 1.
//
// Lifetimes: the link and the runner are never destroyed (the transport,
// which the process's remote context keeps forever, and abandoned goroutines
// may still use them after skein::run returns); stop() closes the socket, and
// later sends fail harmlessly.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <variant>

#include "absl/strings/numbers.h"
#include "remote/remote_context.hpp"
#include "skein/blocking.hpp"
#include "skein/chan.hpp"
#include "skein/detail/park.hpp"
#include "skein/runtime.hpp"
#include "skein/skein.hpp"
#include "worker/agent_link.hpp"
#include "worker/cluster_transport.hpp"
#include "worker/task_runner.hpp"

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

// Written by the SIGTERM handler, read by the flusher thread (see the top).
int g_term_pipe[2] = {-1, -1};

void on_sigterm(int) {
  const int saved = errno;
  const char c = 1;
  [[maybe_unused]] ssize_t r = ::write(g_term_pipe[1], &c, 1);
  errno = saved;
}

void flush_stdio_on_sigterm() {
  struct sigaction old {};
  if (::sigaction(SIGTERM, nullptr, &old) != 0 || old.sa_handler != SIG_DFL ||
      (old.sa_flags & SA_SIGINFO) != 0) {
    return;  // the program handles SIGTERM itself
  }
  if (::pipe2(g_term_pipe, O_CLOEXEC) != 0) {
    return;
  }
  std::thread([] {
    char c;
    while (::read(g_term_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    std::fflush(nullptr);
    ::signal(SIGTERM, SIG_DFL);
    sigset_t term;
    ::sigemptyset(&term);
    ::sigaddset(&term, SIGTERM);
    ::pthread_sigmask(SIG_UNBLOCK, &term, nullptr);
    ::raise(SIGTERM);  // default action: the process ends, as if never caught
  }).detach();
  struct sigaction sa {};
  sa.sa_handler = on_sigterm;
  ::sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &sa, nullptr);
}

int procs_of(Runtime& runtime) {
  const auto p = static_cast<int>(runtime.stats().procs);
  if (p > 0) {
    return p;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

node::ClusterTransportOptions transport_options(Runtime& runtime, const std::string& node,
                                                std::uint64_t worker_id,
                                                const cluster::WorkerContext& ctx) {
  node::ClusterTransportOptions o;
  o.local_slots = procs_of(runtime);
  o.worker_id = worker_id;
  o.agent_description = "node agent";
  if (!node.empty()) {
    o.agent_description += " of " + node;
  }
  o.agent_description += " (" + ctx.agent_socket + ")";
  // Tuning knob for benchmarks; the default is the measured one.
  if (const char* w = std::getenv("SKEIN_TASK_WINDOW")) {
    std::uint32_t v = 0;
    if (absl::SimpleAtoi(w, &v) && v > 0) {
      o.window = v;
    }
  }
  return o;
}

// An agent may turn a hello away while it has not yet recorded the pid of
// the worker it just started (the worker can connect first), so a refused or
// unanswered hello is tried again for about 1.5 s before giving up.
// (A silent agent costs one hello timeout, 5 s, and no retry.)
absl::Status connect_with_retries(node::AgentLink& link) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  auto pause = std::chrono::milliseconds(25);
  for (;;) {
    absl::Status s = link.connect();
    if (s.ok() || absl::IsInvalidArgument(s) || std::chrono::steady_clock::now() >= give_up) {
      return s;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(400));
  }
}

int cluster_aware_run(int /*argc*/, char** /*argv*/, std::function<int()>& main_fn) {
  Runtime runtime(Config::from_env());
  std::optional<cluster::WorkerContext> ctx = cluster::context_from_env();
  if (!ctx) {
    return runtime.run(std::move(main_fn));
  }
  if (!ctx->driver) {
    flush_stdio_on_sigterm();
  }
  auto* link = new node::AgentLink(*ctx);  // never destroyed: see Lifetimes
  if (absl::Status s = connect_with_retries(*link); !s.ok()) {
    if (!ctx->driver) {
      std::fprintf(stderr, "skein: task worker cannot reach its node agent (%s)\n",
                   std::string(s.message()).c_str());
      return 1;
    }
    std::fprintf(stderr,
                 "skein: cannot reach the node agent (%s); running without stats, with every "
                 "task in this process\n",
                 std::string(s.message()).c_str());
    return runtime.run(std::move(main_fn));
  }
  const std::string node = !link->node_id().empty() ? link->node_id() : ctx->node_id;
  node::FrameSender send = [link](std::string_view payload) { return link->send(payload); };
  auto owned = std::make_unique<node::ClusterTransport>(
      send, node, transport_options(runtime, node, link->worker_id(), *ctx));
  node::ClusterTransport* transport = owned.get();
  detail::install_transport(std::move(owned));
  transport->attach(&detail::process_owner_table());
  auto* runner = new node::TaskRunner(send, node);  // never destroyed: see Lifetimes

  const bool driver = ctx->driver;
  Chan<std::monostate> stop(0);  // closed on Terminate / end of socket (task role)
  std::atomic<bool> stop_closed{false};
  const auto request_stop = [&] {
    if (!stop_closed.exchange(true)) {
      stop.close();
    }
  };
  std::atomic<bool> dropped_tasks{false};
  const auto start_reader = [&] {
    link->start_reader(
        [&](skein::v1::AgentToWorker& m) {
          switch (m.msg_case()) {
            case skein::v1::AgentToWorker::kResults:
              transport->on_results(*m.mutable_results());
              break;
            case skein::v1::AgentToWorker::kTasks:
              if (!driver) {
                runner->on_tasks(*m.mutable_tasks());
              } else if (!dropped_tasks.exchange(true)) {
                std::fprintf(stderr, "skein: the node agent sent tasks to a driver; dropped\n");
              }
              break;
            case skein::v1::AgentToWorker::kWgDeltas:
              transport->on_wg_deltas(m.wg_deltas());
              break;
            case skein::v1::AgentToWorker::kTerminate:
              if (driver) {
                // The agent kills us after its grace period; until then, every
                // waiter learns why instead of waiting for results that will
                // not come.
                std::fprintf(stderr, "skein: the node agent asked this job to stop: %s\n",
                             m.terminate().reason().c_str());
                detail::process_owner_table().close(
                    TaskError::kCanceled,
                    "the node agent asked the job to stop: " + m.terminate().reason());
              } else {
                request_stop();
              }
              break;
            default:
              break;  // nothing else is meant for a running worker
          }
        },
        [&](const absl::Status& why) {
          transport->on_link_lost(absl::IsNotFound(why) ? std::string("the agent closed the socket")
                                                        : std::string(why.message()));
          g_connected.store(false, std::memory_order_relaxed);
          if (current_runtime() != nullptr) {
            detail::add_external_wakers(-1);  // nothing will come from this thread any more
          }
          request_stop();
        });
  };
  g_connected.store(true, std::memory_order_relaxed);
  link->start_reporting([&runtime] { return runtime.stats(); });

  // The reader runs exactly while the runtime does: what it dispatches starts
  // goroutines and wakes them, which needs a running runtime.
  const int rc = runtime.run([&] {
    detail::add_external_wakers(1);  // the link's reader completes futures
    start_reader();
    int code = 0;
    if (driver) {
      code = main_fn();
    } else {
      [[maybe_unused]] auto v = stop.recv();
    }
    blocking([&] { link->stop_reader(); });
    return code;
  });
  link->stop();
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
