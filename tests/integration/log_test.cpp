// Output of every process of a job, on every node, in `skein logs` (issue 10,
// "Nothing shared between hosts"): a real coordinator and three agents on
// 127.0.0.1; jobs/log_job.cpp runs a task on each node that prints to stdout
// (buffered, never flushed) and stderr, then one that prints without a
// newline just before the job ends. Every such line must show up exactly once,
// labelled with the node that printed it, in `skein submit --wait` (a
// followed stream, which must not end before the task workers' last output)
// and in `skein logs` afterwards.
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cluster_fixture.hpp"

namespace skein::testing {
namespace {

using namespace std::chrono_literals;

// Occurrences of `needle` in `hay`.
int count(const std::string& hay, const std::string& needle) {
  int n = 0;
  for (auto pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

// Every line of `text` that contains `needle`, for failure messages.
std::string lines_with(const std::string& text, const std::string& needle) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) {
      end = text.size();
    }
    const std::string line = text.substr(start, end - start);
    if (line.find(needle) != std::string::npos) {
      absl::StrAppend(&out, "  ", line, "\n");
    }
    start = end + 1;
  }
  return out;
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cluster::start();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    job_ = build_path("tests/integration/skein_log_job");
    nodes_ = cluster_->alive_node_ids();
    ASSERT_EQ(nodes_.size(), 3u);
  }

  // Each node's task lines, labelled, exactly once; the driver's unlabelled.
  void expect_every_line_once(const std::string& out, const std::string& err,
                              const std::string& what) {
    for (const auto& n : nodes_) {
      const std::string label = absl::StrCat("[", n, " task] ");
      EXPECT_EQ(count(out, absl::StrCat(label, "LINE from=", n, " want=", n, " pid=")), 1)
          << what << ": stdout line of " << n << "\n"
          << lines_with(out, "LINE") << "stdout:\n"
          << out << "stderr:\n"
          << err;
      EXPECT_EQ(count(out, absl::StrCat(label, "TAIL from=", n, " want=", n, "\n")), 1)
          << what << ": unterminated, unflushed line of " << n << "\n"
          << lines_with(out, "TAIL") << "stdout:\n"
          << out << "stderr:\n"
          << err;
      EXPECT_EQ(count(err, absl::StrCat(label, "ERRLINE from=", n, " want=", n, "\n")), 1)
          << what << ": stderr line of " << n << "\n"
          << err;
    }
    EXPECT_EQ(count(out, "LINE from="), 3) << what << "\n" << out;
    EXPECT_EQ(count(out, "TAIL from="), 3) << what << "\n" << out;
    EXPECT_EQ(count(err, "ERRLINE from="), 3) << what << "\n" << err;
    // The driver's output looks as it always did: unlabelled, whole lines.
    EXPECT_NE(out.find("DRIVER start\n"), std::string::npos) << what << "\n" << out;
    EXPECT_TRUE(out.starts_with("DRIVER start\n") ||
                out.find("\nDRIVER start\n") != std::string::npos)
        << what << "\n"
        << out;
    EXPECT_NE(out.find("\nRESULT ok nodes=3\n"), std::string::npos) << what << "\n" << out;
    EXPECT_EQ(count(out + err, "[skein]"), 0) << what << ": no agent notes for a clean end\n"
                                              << err;
  }

  std::unique_ptr<Cluster> cluster_;
  std::string job_;
  std::vector<std::string> nodes_;
};

TEST_F(LogTest, EveryProcessOnEveryNodeIsInTheLogOnceLabelledWithItsNode) {
  std::vector<std::string> args = {"submit", "--wait", job_, "--"};
  args.insert(args.end(), nodes_.begin(), nodes_.end());
  const CliResult run = cluster_->cli(args, 60s);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(run.err, m, std::regex(R"(job (\d+) submitted)"))) << run.err;
  std::uint64_t id = 0;
  ASSERT_TRUE(absl::SimpleAtoi(m[1].str(), &id));

  // A followed stream (submit --wait) ends only once every node's output is
  // in: the task workers flushed as they were stopped at the job's end.
  expect_every_line_once(run.out, run.err, "submit --wait");
  // Not by waiting out the linger (cancel grace + 3 s, docs/wire.md): the
  // end_of_output markers ended it.
  EXPECT_LT(run.elapsed, 7s) << "submit --wait took " << run.elapsed.count() << " ms";

  // The stored log afterwards: the same lines, once each.
  const CliResult logs = cluster_->cli({"logs", std::to_string(id)}, 30s);
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  expect_every_line_once(logs.out, logs.err, "skein logs");

  // --no-prefix: every line as printed.
  const CliResult raw = cluster_->cli({"logs", "--no-prefix", std::to_string(id)}, 30s);
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_EQ(count(raw.out, "["), 0) << raw.out;
  for (const auto& n : nodes_) {
    EXPECT_EQ(count(raw.out, absl::StrCat("LINE from=", n, " want=", n, " pid=")), 1) << raw.out;
    EXPECT_EQ(count(raw.out, absl::StrCat("TAIL from=", n, " want=", n)), 1) << raw.out;
  }

  // --node: one node's output only (the driver's lines are on its node).
  const std::string& one = nodes_[1];
  const CliResult only = cluster_->cli({"logs", "--node", one, std::to_string(id)}, 30s);
  ASSERT_EQ(only.exit_code, 0) << only.err;
  EXPECT_EQ(count(only.out, "LINE from="), 1) << only.out;
  EXPECT_EQ(count(only.out, absl::StrCat("[", one, " task] LINE from=", one)), 1) << only.out;
  EXPECT_EQ(count(only.out, absl::StrCat("[", one, " task] TAIL from=", one)), 1) << only.out;

  // --prefix-all labels the driver's lines with its node.
  auto job = cluster_->get_job(id);
  ASSERT_TRUE(job.ok()) << job.status();
  const CliResult all = cluster_->cli({"logs", "--prefix-all", std::to_string(id)}, 30s);
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(count(all.out, absl::StrCat("[", job->driver_node(), " driver] RESULT ok nodes=3\n")),
            1)
      << all.out;
}

}  // namespace
}  // namespace skein::testing
