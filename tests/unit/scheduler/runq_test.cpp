// The run queue on its own (test hook: the private header), under concurrent
// stealing: every G pushed is taken exactly once, by the owner or a thief.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "runq.hpp"

namespace skein::detail {
namespace {

TEST(RunQueue, FifoAndBounded) {
  auto gs = std::make_unique<G[]>(RunQueue::kCapacity + 1);
  RunQueue q;
  for (std::uint32_t i = 0; i < RunQueue::kCapacity; ++i) {
    ASSERT_TRUE(q.push(&gs[i]));
  }
  EXPECT_FALSE(q.push(&gs[RunQueue::kCapacity])) << "capacity is bounded";
  EXPECT_EQ(q.size(), RunQueue::kCapacity);
  for (std::uint32_t i = 0; i < RunQueue::kCapacity; ++i) {
    ASSERT_EQ(q.pop(), &gs[i]);
  }
  EXPECT_EQ(q.pop(), nullptr);
}

TEST(RunQueue, StealTakesHalf) {
  auto gs = std::make_unique<G[]>(10);
  RunQueue victim, thief;
  for (int i = 0; i < 10; ++i) {
    victim.push(&gs[i]);
  }
  std::uint32_t n = 0;
  G* g = thief.steal_half_from(victim, &n);
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(g, &gs[4]) << "the thief runs the last stolen G";
  EXPECT_EQ(thief.size(), 4u);
  EXPECT_EQ(victim.size(), 5u);
  EXPECT_EQ(victim.pop(), &gs[5]) << "the victim keeps the newer half";
}

TEST(RunQueue, OverflowTakesOlderHalf) {
  auto gs = std::make_unique<G[]>(RunQueue::kCapacity);
  RunQueue q;
  for (std::uint32_t i = 0; i < RunQueue::kCapacity; ++i) {
    q.push(&gs[i]);
  }
  G* batch[RunQueue::kCapacity / 2 + 1];
  EXPECT_EQ(q.take_half_for_overflow(batch), RunQueue::kCapacity / 2);
  EXPECT_EQ(batch[0], &gs[0]);
  EXPECT_EQ(q.size(), RunQueue::kCapacity / 2);
}

TEST(RunQueue, ConcurrentStealingTakesEachGExactlyOnce) {
#if defined(__SANITIZE_THREAD__)
  constexpr int kItems = 20'000;
#else
  constexpr int kItems = 200'000;
#endif
  constexpr int kThieves = 3;
  auto gs = std::make_unique<G[]>(kItems);
  auto seen = std::make_unique<std::atomic<int>[]>(kItems);
  RunQueue owner_q;
  std::atomic<bool> done{false};
  std::atomic<int> taken{0};
  auto record = [&](G* g) {
    seen[g - gs.get()].fetch_add(1, std::memory_order_relaxed);
    taken.fetch_add(1, std::memory_order_relaxed);
  };
  std::vector<std::thread> thieves;
  for (int t = 0; t < kThieves; ++t) {
    thieves.emplace_back([&] {
      RunQueue mine;
      while (!done.load(std::memory_order_acquire)) {
        std::uint32_t n = 0;
        if (G* g = mine.steal_half_from(owner_q, &n)) {
          record(g);
          while (G* more = mine.pop()) {
            record(more);
          }
        }
      }
    });
  }
  for (int i = 0; i < kItems; ++i) {
    while (!owner_q.push(&gs[i])) {
      if (G* g = owner_q.pop()) {
        record(g);
      }
    }
    if (i % 7 == 0) {
      if (G* g = owner_q.pop()) {
        record(g);
      }
    }
  }
  while (G* g = owner_q.pop()) {
    record(g);
  }
  while (taken.load() < kItems) {
    std::this_thread::yield();
  }
  done.store(true, std::memory_order_release);
  for (auto& t : thieves) {
    t.join();
  }
  for (int i = 0; i < kItems; ++i) {
    ASSERT_EQ(seen[i].load(), 1) << "G " << i;
  }
}

}  // namespace
}  // namespace skein::detail
