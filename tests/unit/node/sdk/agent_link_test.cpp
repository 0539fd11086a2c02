// The SDK's side of the worker socket (AgentLink, cluster detection) against
// the agent's real WorkerServer.
#include "worker/agent_link.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "agent/worker_server.hpp"
#include "skein/cluster.hpp"

namespace skein::node {
namespace {

using namespace std::chrono_literals;

TEST(ClusterContext, NeedsBothSocketAndAPositiveJobId) {
  ::unsetenv("SKEIN_AGENT_SOCKET");
  ::unsetenv("SKEIN_JOB_ID");
  EXPECT_FALSE(cluster::context_from_env().has_value());
  ::setenv("SKEIN_AGENT_SOCKET", "/tmp/x.sock", 1);
  EXPECT_FALSE(cluster::context_from_env().has_value());
  ::setenv("SKEIN_JOB_ID", "0", 1);
  EXPECT_FALSE(cluster::context_from_env().has_value());
  ::setenv("SKEIN_JOB_ID", "12abc", 1);
  EXPECT_FALSE(cluster::context_from_env().has_value());
  ::setenv("SKEIN_JOB_ID", "12", 1);
  ::setenv("SKEIN_WORKER_ROLE", "driver", 1);
  auto ctx = cluster::context_from_env();
  ASSERT_TRUE(ctx.has_value());
  EXPECT_EQ(ctx->job_id, 12u);
  EXPECT_EQ(ctx->agent_socket, "/tmp/x.sock");
  EXPECT_TRUE(ctx->driver);
  ::unsetenv("SKEIN_AGENT_SOCKET");
  ::unsetenv("SKEIN_JOB_ID");
  ::unsetenv("SKEIN_WORKER_ROLE");
}

TEST(AgentLink, SendsHelloThenASampleEveryIntervalAndAFinalOne) {
  char tmpl[] = "/tmp/sdklinkXXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  WorkerServer server(dir + "/agent.sock", 50ms,
                      [](std::uint64_t job, pid_t pid) { return job == 9 && pid == ::getpid(); });
  ASSERT_TRUE(server.start().ok());

  cluster::WorkerContext ctx;
  ctx.job_id = 9;
  ctx.agent_socket = server.path();
  AgentLink link(ctx);
  ASSERT_TRUE(link.connect().ok());
  EXPECT_EQ(link.stats_interval(), 50ms);
  std::atomic<int> samples{0};
  link.start_reporting([&] {
    SchedStats s;
    s.goroutines = ++samples;
    s.spawned = 1000;
    return s;
  });
  for (int i = 0; i < 400 && samples.load() < 4; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_GE(samples.load(), 4);  // ~every 50 ms
  for (int i = 0; i < 400 && server.snapshot().empty(); ++i) {
    std::this_thread::sleep_for(5ms);
  }
  auto snap = server.snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].job_id(), 9u);
  EXPECT_EQ(snap[0].sched().spawned(), 1000u);
  EXPECT_GT(snap[0].sched().sampled_unix_ms(), 0);
  link.stop();
  server.stop();
  std::filesystem::remove_all(dir);
}

TEST(AgentLink, AnUnreachableAgentIsAnErrorNotAHang) {
  cluster::WorkerContext ctx;
  ctx.job_id = 1;
  ctx.agent_socket = "/tmp/definitely-not-an-agent.sock";
  AgentLink link(ctx);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(link.connect().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  link.start_reporting([] { return SchedStats{}; });  // no-op without a connection
  link.stop();
}

}  // namespace
}  // namespace skein::node
