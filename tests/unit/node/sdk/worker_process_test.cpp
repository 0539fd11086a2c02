// A real job binary (worker_fixture) started as a node agent would start it,
// against a fake agent on a real socket: the run hook's two roles end to end.
// Each test starts one child, bounds every wait, and kills only that pid.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "fake_agent.hpp"
#include "skein/detail/serialize.hpp"

extern char** environ;

namespace skein::node {
namespace {

using namespace std::chrono_literals;
using testing::FakeAgent;

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of the child's stdout

  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (out >= 0) {
      ::close(out);
    }
  }

  // Waits up to `timeout` for the exit; the wait status, or nullopt (then the
  // child is killed by the destructor).
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return status;
      }
      std::this_thread::sleep_for(5ms);
    }
    return std::nullopt;
  }

  // Everything the child wrote to stdout (after it exited).
  std::string output() {
    std::string s;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out, buf, sizeof buf)) > 0) {
      s.append(buf, static_cast<std::size_t>(n));
    }
    return s;
  }
};

// Starts the fixture with the agent's environment (as the agent would).
void start(Child& c, const FakeAgent& agent, bool task_role, std::vector<std::string> args) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "SKEIN_", 6) != 0) {
      env.emplace_back(*e);
    }
  }
  env.push_back("SKEIN_AGENT_SOCKET=" + agent.path());
  env.push_back("SKEIN_JOB_ID=5");
  env.push_back("SKEIN_NODE_ID=n-env");
  env.push_back("SKEIN_PROCS=2");
  if (task_role) {
    env.push_back("SKEIN_WORKER_ROLE=task");
  }
  args.insert(args.begin(), SKEIN_WORKER_FIXTURE);
  int pipefd[2];
  ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
  c.pid = ::fork();
  ASSERT_GE(c.pid, 0);
  if (c.pid == 0) {
    ::dup2(pipefd[1], 1);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  c.out = pipefd[0];
}

skein::v1::AgentToWorker task_batch(std::uint64_t id, std::string fn, std::string args) {
  skein::v1::AgentToWorker m;
  auto* b = m.mutable_tasks();
  b->set_job_id(5);
  b->mutable_owner()->set_node_id("n1");
  b->mutable_owner()->set_worker_id(3);
  auto* t = b->add_tasks();
  t->set_task_id(id);
  t->set_attempt(1);
  t->set_function(std::move(fn));
  t->set_args(std::move(args));
  t->set_wants_result(true);
  return m;
}

skein::v1::AgentToWorker terminate(std::string why) {
  skein::v1::AgentToWorker m;
  m.mutable_terminate()->set_reason(std::move(why));
  return m;
}

TEST(TaskWorkerProcess, RunsPlacedTasksNeverMainAndExitsZeroOnTerminate) {
  FakeAgent agent;
  Child c;
  start(c, agent, /*task_role=*/true, {});
  auto hello = agent.hello(10s);
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->role(), skein::v1::WORKER_ROLE_TASK);
  EXPECT_EQ(hello->pid(), c.pid);
  EXPECT_EQ(hello->job_id(), 5u);

  ASSERT_TRUE(agent.send(task_batch(11, "add", detail::encode(std::make_tuple(40, 2)))));
  auto m = agent.next(10s);
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE(m->has_results()) << m->ShortDebugString();
  EXPECT_EQ(m->results().owner().node_id(), "n1");
  EXPECT_EQ(m->results().owner().worker_id(), 3u);
  ASSERT_EQ(m->results().results_size(), 1);
  const auto& r = m->results().results(0);
  EXPECT_EQ(r.task_id(), 11u);
  EXPECT_EQ(r.error(), 0u);
  EXPECT_EQ(detail::decode<int>(r.result()), 42);
  EXPECT_EQ(r.node(), "n-test");  // the agent's node id wins over SKEIN_NODE_ID

  ASSERT_TRUE(agent.send(terminate("job 5 ended")));
  auto status = c.wait_exit(10s);
  ASSERT_TRUE(status.has_value()) << "task worker did not exit on Terminate";
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  const std::string out = c.output();
  EXPECT_NE(out.find("BEFORE RUN"), std::string::npos) << out;
  EXPECT_EQ(out.find("MAIN RAN"), std::string::npos) << out;
}

TEST(TaskWorkerProcess, ATaskThatSpawnsOwnsItsSubtaskOnTheSameSocket) {
  FakeAgent agent;
  Child c;
  start(c, agent, /*task_role=*/true, {});
  ASSERT_TRUE(agent.hello(10s).has_value());
  ASSERT_TRUE(agent.send(task_batch(21, "doubled", detail::encode(std::make_tuple(8)))));
  // The task worker, as an owner, sends add(8, 8) up with no owner filled in.
  auto sub = agent.next(10s);
  ASSERT_TRUE(sub.has_value());
  ASSERT_TRUE(sub->has_tasks()) << sub->ShortDebugString();
  ASSERT_EQ(sub->tasks().tasks_size(), 1);
  const auto& t = sub->tasks().tasks(0);
  EXPECT_EQ(t.function(), "add");
  skein::v1::AgentToWorker res;
  res.mutable_results()->set_job_id(5);
  auto* r = res.mutable_results()->add_results();
  r->set_task_id(t.task_id());
  r->set_attempt(t.attempt());
  r->set_result(detail::encode(16));
  r->set_node("n3");
  ASSERT_TRUE(agent.send(res));
  auto m = agent.next(10s);
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE(m->has_results()) << m->ShortDebugString();
  ASSERT_EQ(m->results().results_size(), 1);
  EXPECT_EQ(m->results().results(0).task_id(), 21u);
  EXPECT_EQ(detail::decode<int>(m->results().results(0).result()), 16);
  agent.hang_up();  // the end of the socket ends a task worker too
  auto status = c.wait_exit(10s);
  ASSERT_TRUE(status.has_value()) << "task worker did not exit at the end of the socket";
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST(DriverProcess, SpawnGoesThroughTheAgentAndTheResultComesBack) {
  FakeAgent agent;
  Child c;
  start(c, agent, /*task_role=*/false, {"spawn", "40", "2"});
  auto hello = agent.hello(10s);
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->role(), skein::v1::WORKER_ROLE_DRIVER);
  auto m = agent.next(10s);
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE(m->has_tasks());
  const auto& t = m->tasks().tasks(0);
  auto [a, b] = detail::decode<std::tuple<int, int>>(t.args());
  skein::v1::AgentToWorker res;
  auto* r = res.mutable_results()->add_results();
  r->set_task_id(t.task_id());
  r->set_attempt(t.attempt());
  r->set_result(detail::encode(a + b));
  r->set_node("n2");
  ASSERT_TRUE(agent.send(res));
  auto status = c.wait_exit(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  const std::string out = c.output();
  EXPECT_NE(out.find("RESULT 42"), std::string::npos) << out;
}

TEST(DriverProcess, ALostAgentFailsTheSpawnWithNodeLostInsteadOfHanging) {
  FakeAgent agent;
  Child c;
  start(c, agent, /*task_role=*/false, {"spawn", "1", "2"});
  ASSERT_TRUE(agent.hello(10s).has_value());
  auto m = agent.next(10s);
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE(m->has_tasks());
  agent.hang_up();
  auto status = c.wait_exit(10s);
  ASSERT_TRUE(status.has_value()) << "the driver hangs after losing its agent";
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3);
  const std::string out = c.output();
  EXPECT_NE(out.find("ERROR node lost"), std::string::npos) << out;
  EXPECT_NE(out.find("lost the connection to node agent of n-test"), std::string::npos) << out;
}

TEST(DriverProcess, TerminateCancelsWhatMainWaitsFor) {
  FakeAgent agent;
  Child c;
  start(c, agent, /*task_role=*/false, {"spawn", "1", "2"});
  ASSERT_TRUE(agent.hello(10s).has_value());
  auto m = agent.next(10s);
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE(m->has_tasks());
  ASSERT_TRUE(agent.send(terminate("job 5 was cancelled by the user")));
  auto status = c.wait_exit(10s);
  ASSERT_TRUE(status.has_value()) << "the driver kept waiting after Terminate";
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3);
  const std::string out = c.output();
  EXPECT_NE(out.find("ERROR canceled"), std::string::npos) << out;
  EXPECT_NE(out.find("job 5 was cancelled by the user"), std::string::npos) << out;
}

TEST(DriverProcess, AHelloTurnedAwayIsTriedAgain) {
  FakeAgent agent;
  agent.refuse_first_hellos(2);
  Child c;
  start(c, agent, /*task_role=*/false, {"spawn", "5", "6"});
  ASSERT_TRUE(agent.hello(10s).has_value());
  EXPECT_EQ(agent.refused(), 2);
  auto m = agent.next(10s);
  ASSERT_TRUE(m.has_value());
  ASSERT_TRUE(m->has_tasks()) << "the task ran locally instead of through the agent";
  const auto& t = m->tasks().tasks(0);
  skein::v1::AgentToWorker res;
  auto* r = res.mutable_results()->add_results();
  r->set_task_id(t.task_id());
  r->set_attempt(t.attempt());
  r->set_result(detail::encode(11));
  ASSERT_TRUE(agent.send(res));
  auto status = c.wait_exit(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_NE(c.output().find("RESULT 11"), std::string::npos);
}

}  // namespace
}  // namespace skein::node
