// Escalation paths: an exception escaping a goroutine, and a stack overflow.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "skein/sched.hpp"

namespace skein {
namespace {

TEST(PanicDeathTest, ExceptionEscapingAGoroutineIsAPanic) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Runtime rt(Config{.procs = 2});
        rt.run([] {
          WaitGroup wg;
          wg.add(1);
          go([] { throw std::runtime_error("boom"); });
          wg.wait();
        });
      },
      ::testing::ExitedWithCode(2),
      "panic: std::runtime_error: boom\n\ngoroutine [0-9]+ \\[running\\]:\ncreated at "
      ".*panic_test.cpp:[0-9]+");
}

TEST(PanicDeathTest, NonStdExceptionIsAPanicToo) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Runtime rt(Config{.procs = 1});
        rt.run([] { throw 42; });
      },
      ::testing::ExitedWithCode(2), "panic: exception of type");
}

// Recurses until `limit` (far beyond any stack); the volatile frame keeps the
// compiler from turning it into a loop.
[[gnu::noinline]] int recurse(int depth, int limit) {
  volatile char frame[512];
  frame[0] = static_cast<char>(depth);
  if (depth == limit) {
    return frame[0];
  }
  return recurse(depth + 1, limit) + frame[0];
}

TEST(StackDeathTest, OverflowIsReportedNotSilentCorruption) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Runtime rt(Config{.procs = 2, .stack_size = 64 * 1024});
        rt.run([] {
          WaitGroup wg;
          wg.add(1);
          go([&] {
            recurse(0, 1 << 30);
            wg.done();
          });
          wg.wait();
        });
      },
      ::testing::ExitedWithCode(2), "fatal error: stack overflow in goroutine [0-9]+");
}

// The overflow handler owns SIGSEGV; a SIGSEGV that is not an overflow — here
// one sent with raise(), which unlike a fault does not recur when the handler
// returns — must still kill the process with that signal.
TEST(StackDeathTest, RaisedSigsegvStillKillsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Runtime rt(Config{.procs = 2});
        rt.run([] {
          WaitGroup wg;
          wg.add(1);
          go([&] {
            ::raise(SIGSEGV);
            wg.done();
          });
          wg.wait();
        });
        std::fprintf(stderr, "survived a raised SIGSEGV\n");
        std::exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV), "");
}

// Without guard pages, a goroutine that ran a little past the bottom of its
// stack (into the unit's unprotected guard area) is caught by the zero
// canary when it next switches out.
[[gnu::noinline]] void dig_below(std::uintptr_t floor) {
  volatile char frame[512];
  for (char& c : const_cast<char(&)[512]>(frame)) {
    c = 1;  // a frame that really uses its stack
  }
  if (reinterpret_cast<std::uintptr_t>(&frame[0]) > floor) {
    dig_below(floor);
  }
  frame[1] = frame[0];
}

TEST(StackDeathTest, CanaryCatchesOverflowWithoutGuardPages) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        constexpr std::size_t kStack = 64 * 1024;
        Runtime rt(Config{.procs = 1, .stack_size = kStack, .guard_pages = false});
        rt.run([] {
          WaitGroup wg;
          wg.add(1);
          go([&] {
            char top;
            // The usable stack ends about kStack below the first frame; dig
            // ~1 KiB past it, well within the 4 KiB unprotected guard area.
            dig_below(reinterpret_cast<std::uintptr_t>(&top) - kStack - 1024);
            wg.done();
          });
          wg.wait();
        });
      },
      ::testing::ExitedWithCode(2), "fatal error: stack overflow in goroutine [0-9]+");
}

}  // namespace
}  // namespace skein
