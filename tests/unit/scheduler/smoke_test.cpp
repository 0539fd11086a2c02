#include <gtest/gtest.h>

#include <atomic>

#include "skein/sched.hpp"

TEST(Smoke, SpawnJoin) {
  skein::Runtime rt(skein::Config{.procs = 2});
  std::atomic<int> sum{0};
  int code = rt.run([&] {
    skein::WaitGroup wg;
    for (int i = 0; i < 1000; ++i) {
      wg.add(1);
      skein::go([&, i] {
        sum += i;
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(code, 0);
  EXPECT_EQ(sum.load(), 999 * 1000 / 2);
}
