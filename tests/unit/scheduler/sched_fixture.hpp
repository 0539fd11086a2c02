// Test fixture that runs a test body on fresh runtimes of several shapes
// (procs in {1, 2, 4, 8}) and checks, after each run, that no goroutine was
// left behind (STYLE habit 12).
#pragma once

#include <gtest/gtest.h>

#include <functional>

#include "skein/sched.hpp"

namespace skein::testing {

// Work sizes shrink under the sanitizers, which slow context switches ~20x.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr int kScale = 10;
#else
inline constexpr int kScale = 1;
#endif

class SchedTest : public ::testing::TestWithParam<int> {
 protected:
  int procs() const { return GetParam(); }

  // Runs body as the main goroutine of a new runtime with procs() Ps, then
  // asserts every goroutine it spawned has finished.
  void run(std::function<void()> body) {
    Runtime rt(Config{.procs = procs()});
    int code = rt.run([&] { body(); });
    EXPECT_EQ(code, 0);
    // The main goroutine may still be switching out when run() returns.
    // `finished` is counted just after a goroutine is marked dead, so wait
    // for both numbers to settle.
    SchedStats s = rt.stats();
    for (int i = 0; i < 1000 && (s.goroutines != 0 || s.spawned != s.finished); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      s = rt.stats();
    }
    EXPECT_EQ(s.goroutines, 0) << "goroutines left behind:\n" << rt.dump();
    EXPECT_EQ(s.spawned, s.finished);
  }
};

inline std::string procs_name(const ::testing::TestParamInfo<int>& info) {
  return "procs" + std::to_string(info.param);
}

#define SKEIN_INSTANTIATE_PROCS(suite)                                  \
  INSTANTIATE_TEST_SUITE_P(Procs, suite, ::testing::Values(1, 2, 4, 8), \
                           ::skein::testing::procs_name)

}  // namespace skein::testing
