// DistWaitGroup handles passed to tasks, in local mode (one process): a
// handle decoded in the process that made the group is that group; a handle
// naming another owner is a remote handle (add/done as deltas, wait refused),
// whose deltas the local transport applies here; a delta for a group that is
// gone is dropped and counted. Tasks that receive the group as an argument
// call done() and add(1)+done() on it, and the owner's wait() returns.
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "remote/remote_context.hpp"
#include "remote/wait_group_registry.hpp"
#include "sched_fixture.hpp"
#include "skein/spawn.hpp"
#include "skein/time.hpp"

namespace wg_handle_test {

std::atomic<int> g_ran{0};

// A task that is given the group and counts itself done on it.
void finish(skein::DistWaitGroup wg, int extra_pairs) {
  for (int i = 0; i < extra_pairs; ++i) {
    wg.add(1);
    wg.done();
  }
  g_ran.fetch_add(1, std::memory_order_relaxed);
  wg.done();
}
SKEIN_REMOTE(finish);

}  // namespace wg_handle_test

namespace skein {
namespace {

using namespace std::chrono_literals;
using namespace wg_handle_test;
using RemoteWgHandleTest = testing::SchedTest;

// The three fields a handle serializes to.
using Fields = std::tuple<std::string, std::uint64_t, std::uint64_t>;

TEST_P(RemoteWgHandleTest, RoundTripInTheOwnerIsTheSameGroup) {
  run([] {
    DistWaitGroup wg;
    wg.add(3);
    const std::string bytes = detail::encode(wg);
    DistWaitGroup copy = detail::decode<DistWaitGroup>(bytes);
    EXPECT_TRUE(copy.is_local());
    EXPECT_EQ(copy.state().get(), wg.state().get());
    copy.done();
    EXPECT_EQ(wg.count(), 2);
    // Serialized twice: the same id (registered once).
    EXPECT_EQ(detail::encode(wg), bytes);
    const auto [node, worker, id] = detail::decode<Fields>(bytes);
    EXPECT_EQ(node, "");  // local mode: this process is the owner {"", 0}
    EXPECT_EQ(worker, 0u);
    EXPECT_NE(id, 0u);
    DistWaitGroup other;
    EXPECT_NE(std::get<2>(detail::decode<Fields>(detail::encode(other))), id);
    copy.add(-2);
    EXPECT_TRUE(wg.wait_for(1s));
  });
}

TEST_P(RemoteWgHandleTest, TasksCallDoneOnTheGroupTheyReceive) {
  run([] {
    const int n = 200 / testing::kScale;
    g_ran = 0;
    DistWaitGroup wg;
    wg.add(n);  // before the spawns: the safe order
    std::vector<Future<void>> futures;
    for (int i = 0; i < n; ++i) {
      futures.push_back(spawn(SKEIN_FN(finish), wg, i % 3));
    }
    ASSERT_TRUE(wg.wait_for(20s)) << "count left " << wg.count();
    EXPECT_EQ(g_ran.load(), n);
    EXPECT_EQ(wg.count(), 0);
    for (auto& f : futures) {
      f.get();
    }
  });
}

TEST_P(RemoteWgHandleTest, RemoteHandleSendsDeltasAndRefusesWait) {
  run([] {
    DistWaitGroup wg;
    wg.add(1);
    const std::uint64_t id = std::get<2>(detail::decode<Fields>(detail::encode(wg)));
    DistWaitGroup remote = detail::decode<DistWaitGroup>(
        detail::encode(std::string("n-elsewhere"), std::uint64_t{7}, id));
    EXPECT_FALSE(remote.is_local());
    EXPECT_THROW(remote.wait(), std::logic_error);
    EXPECT_THROW(remote.wait_for(1ms), std::logic_error);
    EXPECT_THROW((void)remote.state(), std::logic_error);
    try {
      remote.wait();
    } catch (const std::logic_error& e) {
      EXPECT_NE(std::string(e.what()).find("only in the process that made the group"),
                std::string::npos)
          << e.what();
    }
    // Re-encoded, a remote handle still names the owner, not this process.
    EXPECT_EQ(detail::decode<Fields>(detail::encode(remote)), Fields("n-elsewhere", 7, id));

    // The local transport is alone in its world: it applies the delta here.
    const auto before = detail::wait_group_delta_counters();
    remote.add(2);
    EXPECT_EQ(wg.count(), 3);
    remote.done();
    DistWaitGroup copy = remote;  // copies share the sent count
    copy.done();
    EXPECT_EQ(remote.count(), 0);  // 2 - 1 - 1 sent through this handle
    EXPECT_EQ(wg.count(), 1);
    EXPECT_TRUE(remote.failures().empty());
    const auto after = detail::wait_group_delta_counters();
    EXPECT_EQ(after.applied - before.applied, 3u);
    EXPECT_EQ(after.dropped, before.dropped);
    wg.done();
    EXPECT_TRUE(wg.wait_for(1s));
  });
}

TEST_P(RemoteWgHandleTest, DeltaForAGoneGroupIsDroppedAndCounted) {
  run([] {
    std::string bytes;
    {
      DistWaitGroup wg;
      bytes = detail::encode(wg);
    }  // the group is destroyed: its id leaves the registry
    DistWaitGroup stale = detail::decode<DistWaitGroup>(bytes);
    EXPECT_FALSE(stale.is_local());
    const auto before = detail::wait_group_delta_counters();
    stale.add(1);
    stale.done();
    const auto after = detail::wait_group_delta_counters();
    EXPECT_EQ(after.dropped - before.dropped, 2u);
    EXPECT_EQ(after.applied, before.applied);
  });
}

SKEIN_INSTANTIATE_PROCS(RemoteWgHandleTest);

}  // namespace
}  // namespace skein
