// End-to-end tests of distributed execution (issue #5): a real coordinator and
// three node agents on 127.0.0.1, jobs submitted with the real `skein` CLI,
// tasks placed by the coordinator onto task workers started on demand.
// The job (jobs/remote_job.cpp) checks its own values and prints one
// "RESULT ..." line; these tests check that line and what the cluster did.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cluster_fixture.hpp"

namespace skein::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class RemoteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Cluster::start();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    job_ = build_path("tests/integration/skein_remote_job");
  }

  std::vector<std::string> node_ids() { return cluster_->alive_node_ids(); }

  // `skein submit --wait` of remote_job; returns the CLI result.
  CliResult run_job(const std::vector<std::string>& job_args,
                    const std::vector<std::string>& flags = {},
                    std::chrono::milliseconds timeout = 120s) {
    std::vector<std::string> args = {"submit", "--wait", "-q"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back(job_);
    args.push_back("--");
    args.insert(args.end(), job_args.begin(), job_args.end());
    return cluster_->cli(args, timeout);
  }

  // Submits without waiting; returns the job id.
  std::uint64_t submit(const std::vector<std::string>& job_args,
                       const std::vector<std::string>& flags = {}) {
    std::vector<std::string> args = {"submit", "-q"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back(job_);
    args.push_back("--");
    args.insert(args.end(), job_args.begin(), job_args.end());
    CliResult r = cluster_->cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::uint64_t id = 0;
    EXPECT_TRUE(absl::SimpleAtoi(r.out.substr(0, r.out.find('\n')), &id)) << r.out << r.err;
    return id;
  }

  std::string job_output(std::uint64_t id) {
    CliResult logs = cluster_->cli({"logs", std::to_string(id)});
    return logs.out + logs.err;
  }

  // "a=1 b=2" pairs of a RESULT line.
  static std::map<std::string, std::string> pairs(const std::string& line) {
    std::map<std::string, std::string> out;
    for (absl::string_view word : absl::StrSplit(line, ' ')) {
      const auto eq = word.find('=');
      if (eq != std::string_view::npos) {
        out[std::string(word.substr(0, eq))] = std::string(word.substr(eq + 1));
      }
    }
    return out;
  }

  // Waits for a task to record its worker in dir; returns {pid, node id}.
  static std::pair<pid_t, std::string> wait_worker_file(const std::string& dir,
                                                        const std::set<std::string>& exclude_nodes,
                                                        std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      for (const auto& e : std::filesystem::directory_iterator(dir)) {
        pid_t pid = 0;
        std::string node = read_file(e.path().string());
        if (absl::SimpleAtoi(e.path().filename().string(), &pid) && !node.empty() &&
            !exclude_nodes.contains(node)) {
          return {pid, node};
        }
      }
      std::this_thread::sleep_for(10ms);
    }
    return {0, ""};
  }

  std::unique_ptr<Cluster> cluster_;
  std::string job_;
};

// The task workers that recorded themselves in `dir` (one file per worker,
// named by pid, holding its node id): pid -> node.
std::map<pid_t, std::string> recorded_workers(const std::string& dir) {
  std::map<pid_t, std::string> workers;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    pid_t pid = 0;
    if (absl::SimpleAtoi(e.path().filename().string(), &pid)) {
      workers[pid] = read_file(e.path().string());
    }
  }
  return workers;
}

std::set<std::string> nodes_of(const std::map<pid_t, std::string>& workers) {
  std::set<std::string> nodes;
  for (const auto& [pid, node] : workers) {
    nodes.insert(node);
  }
  return nodes;
}

// Every worker has exited within `timeout` (all waited for together).
void expect_all_exit(const std::map<pid_t, std::string>& workers, std::chrono::milliseconds timeout,
                     const char* what) {
  const auto deadline = Clock::now() + timeout;
  for (const auto& [pid, node] : workers) {
    while (process_alive(pid) && Clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_FALSE(process_alive(pid)) << "task worker " << pid << " on " << node << " " << what;
  }
}

TEST_F(RemoteTest, SpawnGetRoundTripRunsOnClusterNodes) {
  CliResult r = run_job({"roundtrip", "300"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(result_line(r.out).find("RESULT roundtrip ok 300"), std::string::npos) << r.out;
}

TEST_F(RemoteTest, ExceptionCrossesNodesAsRemoteErrorWithTypeMessageNodeAndTask) {
  CliResult r = run_job({"exception"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string line = result_line(r.out);
  auto kv = pairs(line);
  EXPECT_EQ(kv["kind"], "exception") << line;
  EXPECT_EQ(kv["type"], "std::out_of_range") << line;
  EXPECT_NE(line.find("message=[code 42 is out of range]"), std::string::npos) << line;
  const auto ids = node_ids();
  EXPECT_TRUE(std::find(ids.begin(), ids.end(), kv["node"]) != ids.end())
      << "error names node '" << kv["node"] << "', not a cluster node: " << line;
  EXPECT_NE(kv["task"], "0") << line;
}

TEST_F(RemoteTest, DistWaitGroupJoins100kTasksOverThreeNodes) {
  CliResult r = run_job({"wg", "100000"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string line = result_line(r.out);
  EXPECT_NE(line.find("RESULT wg ok 100000 count=0"), std::string::npos) << r.out;
  std::printf("%s\n", line.c_str());
}

TEST_F(RemoteTest, EachPlacementPolicyPlacesWhereItSays) {
  const auto ids = node_ids();
  ASSERT_EQ(ids.size(), 3u);

  // spread: round-robin over the three nodes, 30 tasks -> 10 each.
  CliResult spread = run_job({"place", "spread"});
  ASSERT_EQ(spread.exit_code, 0) << spread.out << spread.err;
  auto kv = pairs(result_line(spread.out));
  for (const auto& id : ids) {
    EXPECT_EQ(kv[id], "10") << "spread: " << result_line(spread.out);
  }

  // pinned(node): every task on that node.
  CliResult pinned = run_job({"place", "pinned", ids[1]});
  ASSERT_EQ(pinned.exit_code, 0) << pinned.out << pinned.err;
  kv = pairs(result_line(pinned.out));
  EXPECT_EQ(kv[ids[1]], "30") << result_line(pinned.out);

  // least_loaded: 30 concurrent 200 ms tasks on idle nodes use every node.
  CliResult least = run_job({"place", "least_loaded"});
  ASSERT_EQ(least.exit_code, 0) << least.out << least.err;
  kv = pairs(result_line(least.out));
  for (const auto& id : ids) {
    int n = 0;
    EXPECT_TRUE(absl::SimpleAtoi(kv[id], &n));
    EXPECT_GE(n, 5) << "least_loaded left node " << id << " idle: " << result_line(least.out);
  }

  // local_first: one task at a time never saturates the owner: all at home.
  CliResult local = run_job({"place", "local_first"});
  ASSERT_EQ(local.exit_code, 0) << local.out << local.err;
  kv = pairs(result_line(local.out));
  ASSERT_FALSE(kv["driver"].empty()) << result_line(local.out);
  EXPECT_EQ(kv[kv["driver"]], "30") << result_line(local.out);
}

// RELIABILITY §3 row 1: kill -9 of a task worker mid-job. Its tasks are
// re-run (attempt 2) elsewhere or by a fresh worker; the job succeeds and every
// task is counted once (a double count would drive the DistWaitGroup negative,
// which is fatal; the futures' sum is checked by the job).
TEST_F(RemoteTest, WorkerKilledMidJobRetriesItsTasksAndCountsEachOnce) {
  const std::string dir = make_temp_dir("skein-workers");
  const std::uint64_t id = submit({"retry", "60", "1500", dir});
  auto [pid, node] = wait_worker_file(dir, {}, 30s);
  ASSERT_GT(pid, 0) << "no task recorded its worker";
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  auto job = cluster_->wait_terminal(id, 60s);
  ASSERT_TRUE(job.ok()) << job.status();
  const std::string out = job_output(id);
  EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED) << job->error() << "\n" << out;
  EXPECT_NE(result_line(out).find("RESULT retry ok"), std::string::npos) << out;
  EXPECT_NE(result_line(out).find("wg=0"), std::string::npos) << out;
}

// Task workers are started on demand and kept for the job's lifetime; when the
// job ends, its workers on every node end with it.
TEST_F(RemoteTest, TaskWorkersOnEveryNodeEndWithTheirJob) {
  const std::string dir = make_temp_dir("skein-workers");
  const std::uint64_t id = submit({"retry", "30", "100", dir});
  auto job = cluster_->wait_terminal(id, 60s);
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED) << job->error() << "\n" << job_output(id);
  const auto workers = recorded_workers(dir);
  EXPECT_EQ(nodes_of(workers).size(), 3u) << "spread tasks should have run on every node";
  expect_all_exit(workers, 10s, "outlived its job");
}

// Issue 12: which nodes run a job's task workers was kept in memory only,
// so after a coordinator restart `skein cancel` ended the driver but left the
// task workers on the other nodes running. The agents' hellos now tell the
// restarted coordinator, and the cancel reaches every one of them.
TEST_F(RemoteTest, CancelAfterACoordinatorRestartEndsTaskWorkersOnEveryNode) {
  const std::string dir = make_temp_dir("skein-restart-cancel");
  // 60 tasks of 20 s spread over the nodes: still running when cancelled.
  const std::uint64_t id = submit({"retry", "60", "20000", dir});
  std::map<pid_t, std::string> workers;
  const auto seen_deadline = Clock::now() + 30s;
  while (Clock::now() < seen_deadline) {
    workers = recorded_workers(dir);
    if (nodes_of(workers).size() >= 2) {
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_GE(workers.size(), 2u) << "task workers on at least two nodes";
  ASSERT_TRUE(cluster_->restart_coordinator().ok());
  ASSERT_TRUE(cluster_->wait_nodes(3, 20s).ok());
  CliResult cancel = cluster_->cli({"cancel", std::to_string(id)});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  auto job = cluster_->wait_terminal(id, 60s);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_CANCELLED) << job->error();
  expect_all_exit(workers, 15s, "outlived its cancelled job");
}

// RELIABILITY §3 row 2: kill -9 of a node agent (not the driver's) mid-job.
// Its workers die with it; the coordinator declares the node dead and returns
// its tasks as kNodeLost; the owner re-places them on the surviving nodes.
TEST_F(RemoteTest, AgentKilledMidJobMovesItsTasksToOtherNodes) {
  const auto ids = node_ids();
  ASSERT_EQ(ids.size(), 3u);
  const std::string dir = make_temp_dir("skein-workers");
  const std::uint64_t id = submit({"retry", "60", "1500", dir}, {"--pin", ids[0]});
  auto [pid, node] = wait_worker_file(dir, {ids[0]}, 30s);
  ASSERT_GT(pid, 0) << "no task ran outside the driver's node";
  auto name = cluster_->agent_name_of_node_id(node);
  ASSERT_TRUE(name.ok()) << name.status();
  cluster_->kill_agent(*name);
  auto job = cluster_->wait_terminal(id, 60s);
  ASSERT_TRUE(job.ok()) << job.status();
  const std::string out = job_output(id);
  EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED) << job->error() << "\n" << out;
  EXPECT_NE(result_line(out).find("RESULT retry ok"), std::string::npos) << out;
  EXPECT_FALSE(process_alive(pid)) << "task worker outlived its agent";
}

TEST_F(RemoteTest, NonRetriableTaskOnAKilledNodeFailsNamingTheNode) {
  const auto ids = node_ids();
  ASSERT_EQ(ids.size(), 3u);
  const std::string dir = make_temp_dir("skein-workers");
  const std::uint64_t id = submit({"noretry", ids[2], "20000", dir}, {"--pin", ids[0]});
  auto [pid, node] = wait_worker_file(dir, {}, 30s);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(node, ids[2]);
  auto name = cluster_->agent_name_of_node_id(ids[2]);
  ASSERT_TRUE(name.ok()) << name.status();
  const auto killed_at = Clock::now();
  cluster_->kill_agent(*name);
  auto job = cluster_->wait_terminal(id, 30s);
  ASSERT_TRUE(job.ok()) << job.status();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed_at).count();
  const std::string out = job_output(id);
  EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED) << job->error() << "\n" << out;
  EXPECT_NE(result_line(out).find("RESULT noretry failed=4 of 4"), std::string::npos) << out;
  EXPECT_NE(out.find(ids[2]), std::string::npos) << "the error must name the node:\n" << out;
  std::printf("kill -9 agent -> job done with 4 failed futures in %lld ms\n",
              static_cast<long long>(ms));
}

TEST_F(RemoteTest, UnsatisfiableResourceRequestFailsAtOnce) {
  CliResult r = run_job({"unplaceable"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string line = result_line(r.out);
  EXPECT_NE(line.find("kind=unplaceable"), std::string::npos) << r.out;
  EXPECT_NE(line.find("gpu=h100"), std::string::npos)
      << "the error must say what was asked: " << line;
  const std::regex after(R"(after (\d+) ms)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(line, m, after)) << line;
  EXPECT_LT(std::stol(m[1]), 1000) << line;
}

// RELIABILITY R4: a task that kills every worker it runs in is failed as
// poison after 3 worker deaths, even with retries left.
TEST_F(RemoteTest, PoisonTaskIsQuarantinedAfterThreeWorkerDeaths) {
  CliResult r = run_job({"poison"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string line = result_line(r.out);
  EXPECT_NE(line.find("kind=poison_task"), std::string::npos) << r.out;
  EXPECT_NE(line.find("attempt=3"), std::string::npos) << r.out;
  // The cluster is still whole.
  EXPECT_EQ(node_ids().size(), 3u);
}

}  // namespace
}  // namespace skein::testing
