// Netpoll: the network poller of one runtime, on an Asio io_context
// (Go's netpoll.go contract: arm, poll without blocking, block until an event
// or a deadline, interrupt).
//
// A goroutine whose non-blocking read/write/accept/connect would block arms an
// Asio readiness wait (async_wait) and parks; the completion handler makes it
// runnable with ready(). Nobody owns a poller thread: Ms that run out of work
// poll without blocking, and the last M to go idle blocks in the io_context
// (run_one_until the earliest timer) instead of on its futex, so an idle
// server costs no CPU and no extra thread. Waking that M means posting a no-op
// to the io_context (interrupt()).
// Invariant: `waiters` counts armed waits whose handler has not run yet.
#pragma once

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace skein::detail {

class Netpoll {
 public:
  asio::io_context& io() { return io_; }
  std::atomic<int> waiters{0};

  // Runs the handlers of events that are ready now. Any M.
  void poll() { io_.poll(); }
  // Blocks until one handler ran, an interrupt, or deadline_ns (< 0: none).
  void run_one_until(std::int64_t deadline_ns) {
    if (deadline_ns < 0) {
      io_.run_one();
    } else {
      io_.run_one_until(
          std::chrono::steady_clock::time_point(std::chrono::nanoseconds(deadline_ns)));
    }
  }
  // Makes a blocked run_one_until return. Any thread.
  void interrupt() {
    asio::post(io_, [] {});
  }

 private:
  asio::io_context io_;  // default hint: several Ms poll it concurrently
  // Keeps run_one from returning at once when no wait is armed.
  asio::executor_work_guard<asio::io_context::executor_type> guard_{io_.get_executor()};
};

}  // namespace skein::detail
