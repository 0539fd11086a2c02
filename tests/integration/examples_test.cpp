// The cluster examples (examples/) submitted to a real 3-node local cluster
// with `skein submit --wait`, as a user would run them (issue #5). Each example
// checks its own result and exits non-zero if it is wrong; the tests also
// check the printed result line.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "cluster_fixture.hpp"

namespace skein::testing {
namespace {

using namespace std::chrono_literals;

class ExamplesOnCluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = Cluster::start();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c).release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr); }

  static CliResult submit(const std::string& example, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"submit", "--wait", "-q", build_path("examples/" + example),
                                     "--"};
    argv.insert(argv.end(), args.begin(), args.end());
    CliResult r = cluster_->cli(argv, 300s);
    std::printf("%s", r.out.c_str());
    return r;
  }

  static Cluster* cluster_;
};

Cluster* ExamplesOnCluster::cluster_ = nullptr;

TEST_F(ExamplesOnCluster, DistributedSkynetMillionLeavesSpreadOverAllNodes) {
  CliResult r = submit("dist_skynet", {"--leaves", "1000000", "--tasks", "100"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("sum 499999500000 (expected 499999500000)"), std::string::npos) << r.out;
  // spread: 100 tasks round-robin over 3 nodes.
  const auto pos = r.out.find("tasks per node:");
  ASSERT_NE(pos, std::string::npos) << r.out;
  const std::string line = r.out.substr(pos, r.out.find('\n', pos) - pos);
  EXPECT_EQ(std::count(line.begin(), line.end(), '='), 3) << line;
  EXPECT_EQ(line.find("local="), std::string::npos) << line;
}

TEST_F(ExamplesOnCluster, MonteCarloPi) {
  CliResult r = submit("pi_monte_carlo", {"--samples", "40000000", "--tasks", "48"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("pi ~ 3.14"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("WRONG"), std::string::npos) << r.out;
}

TEST_F(ExamplesOnCluster, ParallelWordCountMatchesTheSingleThreadedCount) {
  CliResult r = submit("word_count", {"--words", "2000000", "--shards", "64"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("matches the single-threaded count"), std::string::npos) << r.out;
}

TEST_F(ExamplesOnCluster, DistributedMergeSortOfTenMillionIntegers) {
  CliResult r = submit("merge_sort", {"--n", "10000000", "--chunks", "16"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("merge_sort: 10000000 ints"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sorted=yes count=ok checksum=ok"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace skein::testing
