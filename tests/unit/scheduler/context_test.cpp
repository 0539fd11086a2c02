// Context: cancel and deadline propagation down the tree, done() in select,
// err() values.
#include <atomic>
#include <vector>

#include "sched_fixture.hpp"
#include "skein/context.hpp"
#include "skein/select.hpp"

namespace skein {
namespace {

using namespace std::chrono_literals;
using ContextTest = testing::SchedTest;

bool is_done(const Context& ctx) { return select(recv(ctx.done()), default_()) == 0; }

TEST_P(ContextTest, BackgroundIsNeverDone) {
  run([] {
    Context bg = Context::background();
    EXPECT_FALSE(is_done(bg));
    EXPECT_EQ(bg.err(), ContextErr::kNone);
    EXPECT_FALSE(bg.deadline().has_value());
    EXPECT_FALSE(static_cast<bool>(bg.done()));  // the nil channel
  });
}

TEST_P(ContextTest, CancelClosesDoneAndWakesWaiters) {
  run([] {
    auto [ctx, cancel] = with_cancel(Context::background());
    EXPECT_FALSE(is_done(ctx));
    constexpr int kWaiters = 100;
    std::atomic<int> woke{0};
    WaitGroup wg;
    wg.add(kWaiters);
    for (int i = 0; i < kWaiters; ++i) {
      go([&, ctx = ctx] {
        EXPECT_EQ(ctx.done().recv(), std::nullopt);
        EXPECT_EQ(ctx.err(), ContextErr::kCanceled);
        woke.fetch_add(1);
        wg.done();
      });
    }
    sleep_for(10ms);
    EXPECT_EQ(woke.load(), 0);
    cancel();
    cancel();  // idempotent
    wg.wait();
    EXPECT_EQ(ctx.err(), ContextErr::kCanceled);
    EXPECT_STREQ(context_err_message(ctx.err()), "context canceled");
  });
}

TEST_P(ContextTest, CancellingAParentCancelsTheWholeSubtree) {
  run([] {
    auto [root, cancel_root] = with_cancel(Context::background());
    std::vector<Context> all;
    std::vector<CancelFn> cancels;
    std::vector<Context> level{root};
    for (int depth = 0; depth < 3; ++depth) {
      std::vector<Context> next;
      for (const Context& parent : level) {
        for (int k = 0; k < 4; ++k) {
          auto [c, cancel] = with_cancel(parent);
          next.push_back(c);
          all.push_back(c);
          cancels.push_back(cancel);
        }
      }
      level = next;
    }
    ASSERT_EQ(all.size(), 4u + 16u + 64u);
    // Cancelling a leaf's parent affects only its own subtree.
    cancels[0]();
    EXPECT_TRUE(is_done(all[0]));
    EXPECT_FALSE(is_done(root));
    EXPECT_FALSE(is_done(all[1]));
    cancel_root();
    for (const Context& c : all) {
      EXPECT_TRUE(is_done(c));
      EXPECT_EQ(c.err(), ContextErr::kCanceled);
    }
  });
}

TEST_P(ContextTest, ChildOfACancelledParentStartsCancelled) {
  run([] {
    auto [parent, cancel] = with_cancel(Context::background());
    cancel();
    auto [child, cancel_child] = with_cancel(parent);
    EXPECT_TRUE(is_done(child));
    EXPECT_EQ(child.err(), ContextErr::kCanceled);
    cancel_child();
  });
}

TEST_P(ContextTest, TimeoutCancelsWithDeadlineExceededNeverEarly) {
  run([] {
    const auto start = Clock::now();
    auto [ctx, cancel] = with_timeout(Context::background(), 20ms);
    ASSERT_TRUE(ctx.deadline().has_value());
    auto [child, cancel_child] = with_cancel(ctx);
    EXPECT_EQ(child.deadline(), ctx.deadline());
    EXPECT_EQ(child.done().recv(), std::nullopt);
    EXPECT_GE(Clock::now() - start, 20ms);
    EXPECT_EQ(ctx.err(), ContextErr::kDeadlineExceeded);
    EXPECT_EQ(child.err(), ContextErr::kDeadlineExceeded);
    EXPECT_STREQ(context_err_message(child.err()), "context deadline exceeded");
    cancel();  // after the deadline: no change
    EXPECT_EQ(ctx.err(), ContextErr::kDeadlineExceeded);
    cancel_child();
  });
}

TEST_P(ContextTest, ChildDeadlineIsTheEarlierOne) {
  run([] {
    auto [parent, cancel] = with_timeout(Context::background(), 10s);
    auto [child, cancel_child] = with_timeout(parent, 1h);
    EXPECT_EQ(child.deadline(), parent.deadline());
    auto [short_child, cancel_short] = with_timeout(parent, 1ms);
    EXPECT_LT(*short_child.deadline(), *parent.deadline());
    EXPECT_EQ(short_child.done().recv(), std::nullopt);
    EXPECT_EQ(short_child.err(), ContextErr::kDeadlineExceeded);
    EXPECT_FALSE(is_done(parent));
    cancel_short();
    cancel_child();
    cancel();
  });
}

TEST_P(ContextTest, CancelBeforeDeadlineWins) {
  run([] {
    auto [ctx, cancel] = with_timeout(Context::background(), 20ms);
    cancel();
    EXPECT_EQ(ctx.err(), ContextErr::kCanceled);
    sleep_for(40ms);
    EXPECT_EQ(ctx.err(), ContextErr::kCanceled);
  });
}

TEST_P(ContextTest, PastDeadlineIsAlreadyDone) {
  run([] {
    auto [ctx, cancel] = with_deadline(Context::background(), Clock::now() - 1s);
    EXPECT_TRUE(is_done(ctx));
    EXPECT_EQ(ctx.err(), ContextErr::kDeadlineExceeded);
    cancel();
  });
}

TEST_P(ContextTest, WorkersStopWhenTheirContextIsCancelled) {
  // Workers select on a job channel and ctx.done(); cancelling the parent of
  // every worker's context stops them all, even though jobs are still offered.
  run([] {
    auto [ctx, cancel] = with_cancel(Context::background());
    Chan<int> jobs(0);
    const int kWorkers = 500 / testing::kScale;
    std::atomic<int> processed{0};
    WaitGroup wg;
    wg.add(kWorkers);
    for (int w = 0; w < kWorkers; ++w) {
      auto [wctx, wcancel] = with_cancel(ctx);
      go([&, wctx = wctx, wcancel = wcancel] {
        for (bool running = true; running;) {
          select(recv(jobs, [&](std::optional<int>) { processed.fetch_add(1); }),
                 recv(wctx.done(), [&] { running = false; }));
        }
        wcancel();
        wg.done();
      });
    }
    for (int i = 0; i < 1000; ++i) {
      jobs.send(i);
    }
    cancel();
    wg.wait();
    EXPECT_EQ(processed.load(), 1000);
  });
}

INSTANTIATE_TEST_SUITE_P(Procs, ContextTest, ::testing::Values(1, 2, 4), testing::procs_name);

}  // namespace
}  // namespace skein
