// End-to-end test of DistWaitGroup add/done from other nodes (issue #5): a
// real coordinator and three node agents on 127.0.0.1; the job
// (jobs/remote_wg_job.cpp) passes its group to tasks spread over the three
// nodes, which call add/done on it in their task workers; the deltas travel
// worker -> agent -> coordinator -> the owner's agent -> the driver, whose
// wait() must not return before them and must return after them.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "cluster_fixture.hpp"

namespace skein::testing {
namespace {

using namespace std::chrono_literals;

class RemoteWgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cluster::start();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    job_ = build_path("tests/integration/skein_remote_wg_job");
  }

  std::vector<std::string> node_ids() { return cluster_->alive_node_ids(); }

  CliResult run_job(const std::vector<std::string>& job_args,
                    std::chrono::milliseconds timeout = 120s) {
    std::vector<std::string> args = {"submit", "--wait", "-q", job_, "--"};
    args.insert(args.end(), job_args.begin(), job_args.end());
    return cluster_->cli(args, timeout);
  }

  static std::map<std::string, std::string> pairs(const std::string& line) {
    std::map<std::string, std::string> out;
    for (absl::string_view word : absl::StrSplit(line, ' ')) {
      const auto eq = word.find('=');
      if (eq != absl::string_view::npos) {
        out[std::string(word.substr(0, eq))] = std::string(word.substr(eq + 1));
      }
    }
    return out;
  }

  std::unique_ptr<Cluster> cluster_;
  std::string job_;
};

TEST_F(RemoteWgTest, TasksOnThreeNodesCallDoneOnTheDriversGroup) {
  const auto ids = node_ids();
  ASSERT_EQ(ids.size(), 3u);
  // 60 tasks spread round-robin (20 per node), each with 3 add(1)+done()
  // pairs before its done(), after sleeping 800 ms.
  CliResult r = run_job({"done", "60", "3", "800"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string line = result_line(r.out);
  EXPECT_NE(line.find("RESULT wgdone ok 60 count=0 remote=60 refused=60"), std::string::npos)
      << r.out;
  auto kv = pairs(line);
  for (const auto& id : ids) {
    EXPECT_EQ(kv[id], "20") << line;
  }
  std::printf("%s\n", line.c_str());
}

TEST_F(RemoteWgTest, ManyDeltasFromManyTasks) {
  // 3,000 tasks, each add(1)+done() ten times then done(): 63,000 deltas
  // sent (summed per frame by the senders), the count must end at exactly 0
  // (a lost or doubled delta leaves it off, or kills the driver).
  CliResult r = run_job({"done", "3000", "10", "200"}, 180s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string line = result_line(r.out);
  EXPECT_NE(line.find("RESULT wgdone ok 3000 count=0 remote=3000 refused=3000"), std::string::npos)
      << r.out;
  std::printf("%s\n", line.c_str());
}

}  // namespace
}  // namespace skein::testing
