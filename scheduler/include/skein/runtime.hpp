// Runtime: one M:N goroutine scheduler (Go's G/M/P model, see docs/scheduler.md).
//
// A Runtime owns `procs` processors (P), the OS threads (M) that run them and
// every goroutine (G) spawned on it. It is an ordinary object: tests build
// several in one process, one after another or side by side. The only global is
// the "current runtime" that `skein::run` sets, so that `skein::go` called from
// a thread that is not a goroutine knows where to put its goroutine.
//
//   int main(int argc, char** argv) {
//     return skein::run(argc, argv, [] {
//       skein::WaitGroup wg;
//       wg.add(1);
//       skein::go([&] { std::puts("hello"); wg.done(); });
//       wg.wait();
//     });
//   }
//
// `Runtime::run(fn)` runs fn as the main goroutine and returns when it returns,
// like Go's main: goroutines still alive then are abandoned (their stacks are
// released without unwinding). An exception escaping any goroutine is a panic:
// message, goroutine id and spawn site on stderr, then exit code 2.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>

#include "skein/stats.hpp"

namespace skein {

struct Config {
  // Number of processors (P): goroutines that run truly in parallel.
  // 0 means "hardware threads". Env: SKEIN_PROCS.
  int procs = 0;
  // Usable bytes of each goroutine stack. Stacks are reserved virtual memory
  // committed lazily by the kernel, so a large value costs address space only.
  // Env: SKEIN_STACK_SIZE (bytes, or with a K/M suffix).
  std::size_t stack_size = 256 * 1024;
  // Ms that may exist at once (threads blocked in skein::blocking count).
  int max_threads = 10000;
  // A PROT_NONE guard page under each stack while the process-wide mapping
  // budget lasts (docs/scheduler.md, "Stacks"); without one, overflow is
  // caught by a canary check when the goroutine switches out. Env:
  // SKEIN_STACK_GUARD=0 turns guard pages off.
  bool guard_pages = true;
  // Report "all goroutines are asleep - deadlock!" (with the goroutine dump,
  // exit 2) when every goroutine is parked on something only another
  // goroutine could release, while main runs. Env: SKEIN_DEADLOCK=0 disables.
  bool detect_deadlock = true;

  // Defaults overridden by the SKEIN_* environment variables above.
  static Config from_env();
};

namespace detail {
class Sched;
}

class Runtime {
 public:
  explicit Runtime(Config config = Config::from_env());
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Runs main_fn as the main goroutine on this runtime; returns its exit code
  // (0 for a void function) once it returns. May be called more than once,
  // but not concurrently. Any thread that is not a goroutine may call it.
  int run(std::function<int()> main_fn);

  template <class F>
  requires std::is_invocable_v<F&>
  int run(F&& main_fn) {
    if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
      return run(std::function<int()>([f = std::forward<F>(main_fn)]() mutable {
        f();
        return 0;
      }));
    } else {
      return run(std::function<int()>(std::forward<F>(main_fn)));
    }
  }

  const Config& config() const;
  // Sums the per-P counters into one snapshot. Any thread; cheap.
  SchedStats stats() const;
  // Human-readable goroutine dump (id, state, wait reason, wait time, spawn site).
  std::string dump() const;

  detail::Sched& sched() { return *sched_; }

 private:
  std::unique_ptr<detail::Sched> sched_;
};

// The runtime that skein::run (or Runtime::run) is running, or nullptr.
Runtime* current_runtime();

namespace detail {
// Hook that lets a higher layer (the cluster SDK, libskein) take over
// skein::run(argc, argv, fn): it is called instead of the local path when set.
// Set once at static-initialization time; nullptr means "run locally".
using RunHook = int (*)(int argc, char** argv, std::function<int()>& main_fn);
void set_run_hook(RunHook hook);
int run_main(int argc, char** argv, std::function<int()> main_fn);
}  // namespace detail

// The program's entry point: builds a Runtime from the environment and runs
// main_fn as the main goroutine; returns the process exit code.
template <class F>
requires std::is_invocable_v<F&>
int run(int argc, char** argv, F&& main_fn) {
  std::function<int()> fn;
  if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
    fn = [f = std::forward<F>(main_fn)]() mutable {
      f();
      return 0;
    };
  } else {
    fn = std::forward<F>(main_fn);
  }
  return detail::run_main(argc, argv, std::move(fn));
}

}  // namespace skein
