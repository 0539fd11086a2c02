// Runtime, Config and the process entry point skein::run.
#include "skein/runtime.hpp"

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "sched.hpp"
#include "skein/go.hpp"

namespace skein {

namespace {

std::atomic<Runtime*> g_current_runtime{nullptr};
std::atomic<detail::RunHook> g_run_hook{nullptr};
// A runtime whose goroutines were still running when main returned (see
// run_main): left to the process exit, as Go does.
std::atomic<Runtime*> g_abandoned_runtime{nullptr};

// Parses "123", "64K", "8M" (powers of 1024). False on anything else.
bool parse_size(const char* s, std::size_t* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s) {
    return false;
  }
  std::size_t mult = 1;
  if (*end == 'K' || *end == 'k') {
    mult = 1024;
    ++end;
  } else if (*end == 'M' || *end == 'm') {
    mult = 1024 * 1024;
    ++end;
  }
  if (*end != '\0' || v == 0) {
    return false;
  }
  *out = static_cast<std::size_t>(v) * mult;
  return true;
}

}  // namespace

Config Config::from_env() {
  Config c;
  if (const char* v = std::getenv("SKEIN_PROCS"); v != nullptr && *v != '\0') {
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    if (*end != '\0' || n <= 0 || n > 4096) {
      std::fprintf(stderr, "skein: ignoring SKEIN_PROCS=%s: want an integer in 1..4096\n", v);
    } else {
      c.procs = static_cast<int>(n);
    }
  }
  if (const char* v = std::getenv("SKEIN_STACK_SIZE"); v != nullptr && *v != '\0') {
    std::size_t size = 0;
    if (!parse_size(v, &size) || size < 16 * 1024) {
      std::fprintf(
          stderr,
          "skein: ignoring SKEIN_STACK_SIZE=%s: want bytes >= 16K (e.g. 262144, 256K, 1M)\n", v);
    } else {
      c.stack_size = size;
    }
  }
  if (const char* v = std::getenv("SKEIN_DEADLOCK"); v != nullptr && *v != '\0') {
    c.detect_deadlock = std::strcmp(v, "0") != 0;
  }
  if (const char* v = std::getenv("SKEIN_STACK_GUARD"); v != nullptr && *v != '\0') {
    c.guard_pages = std::strcmp(v, "0") != 0;
  }
  return c;
}

Runtime::Runtime(Config config) : sched_(std::make_unique<detail::Sched>(config)) {}

Runtime::~Runtime() = default;

const Config& Runtime::config() const { return sched_->config(); }

int Runtime::run(std::function<int()> main_fn) {
  // Shared with the main goroutine, which may still be finishing its last
  // instructions after run() has returned.
  struct Done {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    int code = 0;
  };
  auto done = std::make_shared<Done>();
  Runtime* prev = g_current_runtime.exchange(this);
  detail::Sched* sched = sched_.get();
  auto body = [done, sched, fn = std::move(main_fn)]() mutable {
    int code = fn();
    sched->set_main_running(false);
    std::lock_guard lock(done->mu);
    done->code = code;
    done->done = true;
    done->cv.notify_all();
  };
  using Body = decltype(body);
  void* storage = nullptr;
  detail::G* g = sched_->new_g(sizeof(Body), alignof(Body), &detail::invoke_closure<Body>, &storage,
                               std::source_location::current());
  ::new (storage) Body(std::move(body));
  sched_->set_main_running(true);
  sched_->start_g(g);
  std::unique_lock lock(done->mu);
  done->cv.wait(lock, [&] { return done->done; });
  Runtime* self = this;
  g_current_runtime.compare_exchange_strong(self, prev);
  return done->code;
}

SchedStats Runtime::stats() const { return sched_->stats(); }

std::string Runtime::dump() const { return sched_->dump(); }

Runtime* current_runtime() { return g_current_runtime.load(std::memory_order_acquire); }

namespace detail {

void set_run_hook(RunHook hook) { g_run_hook.store(hook, std::memory_order_release); }

int run_main(int argc, char** argv, std::function<int()> main_fn) {
  if (RunHook hook = g_run_hook.load(std::memory_order_acquire)) {
    return hook(argc, argv, main_fn);
  }
  auto* rt = new Runtime(Config::from_env());
  int code = rt->run(std::move(main_fn));
  // As in Go, goroutines still running when main returns are abandoned. A
  // runtime whose goroutines are all parked is torn down; one with goroutines
  // still running is left to the process exit (joining its threads could
  // wait forever).
  // The main goroutine itself is usually still switching out when run()
  // returns: give the runtime a moment to settle.
  for (int i = 0; i < 50 && !rt->sched().quiescent(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (rt->sched().quiescent()) {
    delete rt;
  } else {
    // Still reachable from here, so leak checkers do not flag it.
    g_abandoned_runtime.store(rt, std::memory_order_release);
  }
  std::fflush(stdout);
  return code;
}

}  // namespace detail

}  // namespace skein
