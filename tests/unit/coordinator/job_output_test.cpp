#include "job_output.hpp"

#include <gtest/gtest.h>

namespace skein::coordinator {
namespace {

using std::chrono::milliseconds;
using Time = JobOutput::Time;

const Time t0 = std::chrono::steady_clock::now();
constexpr milliseconds kLinger{8000};
constexpr milliseconds kRetention{60000};

TEST(JobOutput, ATerminalJobIsSettledOnceEveryNodeThatRanItSentItsEnd) {
  JobOutput out(kLinger, kRetention);
  out.expect(1, "node-1");  // driver
  out.expect(1, "node-2");  // a task worker
  out.expect(1, "node-2");  // a repeated StartJob changes nothing
  EXPECT_TRUE(out.accepts(1, "node-2"));
  EXPECT_FALSE(out.accepts(1, "node-3")) << "never ran the job";
  EXPECT_FALSE(out.accepts(2, "node-1"));

  EXPECT_TRUE(out.close(1, "node-1"));  // the driver's node, before its exit event
  EXPECT_FALSE(out.close(1, "node-1")) << "a repeated marker is no news";
  out.job_ended(1, t0);
  EXPECT_TRUE(out.pending(1, t0 + milliseconds(10))) << "node-2's task worker may still print";
  EXPECT_TRUE(out.accepts(1, "node-2"));
  EXPECT_TRUE(out.close(1, "node-2"));
  EXPECT_FALSE(out.pending(1, t0 + milliseconds(20)));
  EXPECT_TRUE(out.accepts(1, "node-2")) << "late output is still stored";
}

TEST(JobOutput, AMissingMarkerIsWaitedForAtMostTheLinger) {
  JobOutput out(kLinger, kRetention);
  out.expect(7, "node-1");
  out.job_ended(7, t0);
  EXPECT_TRUE(out.pending(7, t0 + kLinger - milliseconds(1)));
  EXPECT_TRUE(out.expire(t0 + kLinger - milliseconds(1)).empty());
  EXPECT_FALSE(out.pending(7, t0 + kLinger));
  EXPECT_EQ(out.expire(t0 + kLinger), std::vector<uint64_t>{7}) << "followers look again";
  EXPECT_TRUE(out.expire(t0 + kLinger + milliseconds(1)).empty()) << "reported once";
  EXPECT_TRUE(out.accepts(7, "node-1"));
  out.expire(t0 + kLinger + kRetention);
  EXPECT_EQ(out.size(), 0u);
  EXPECT_FALSE(out.accepts(7, "node-1")) << "forgotten after the retention";
}

TEST(JobOutput, ADeadNodeOwesNothingAndAnUnknownJobIsSettled) {
  JobOutput out(kLinger, kRetention);
  out.expect(3, "node-1");
  out.expect(3, "node-2");
  out.expect(4, "node-2");
  out.close(3, "node-1");
  EXPECT_EQ(out.node_gone("node-2"), (std::vector<uint64_t>{3, 4}));
  EXPECT_FALSE(out.pending(3, t0));
  EXPECT_FALSE(out.pending(99, t0)) << "no entry (e.g. after a restart): nothing to wait for";
  // pending() of a terminal job starts the linger if job_ended was missed.
  out.expect(5, "node-1");
  EXPECT_TRUE(out.pending(5, t0));
  EXPECT_FALSE(out.pending(5, t0 + kLinger));
}

}  // namespace
}  // namespace skein::coordinator
