// TaskHost (target agent role) wired to a real WorkerServer; this test process
// plays the task worker on the Unix socket (so SO_PEERCRED says our pid), and
// one test runs a real process under a real WorkerSupervisor and SIGKILLs it.
#include "agent/task_host.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/worker_server.hpp"
#include "agent/worker_supervisor.hpp"
#include "wire/frame.hpp"

namespace skein::node {
namespace {

using namespace std::chrono_literals;

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds limit = 5s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (p()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return p();
}

skein::v1::TaskBatch batch(std::uint64_t job, std::uint64_t first, int n,
                           std::uint64_t owner_worker = 7) {
  skein::v1::TaskBatch b;
  b.set_job_id(job);
  b.mutable_owner()->set_node_id("n1");
  b.mutable_owner()->set_worker_id(owner_worker);
  for (int i = 0; i < n; ++i) {
    auto* t = b.add_tasks();
    t->set_task_id(first + static_cast<std::uint64_t>(i));
    t->set_attempt(1);
    t->set_function("fib");
  }
  return b;
}

// TaskHost + WorkerServer as the node agent wires them, with the coordinator
// side recorded.
class TaskHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/thostXXXXXX";
    dir_ = ::mkdtemp(tmpl);
    launch_ = [this](std::uint64_t, std::function<void(pid_t)> on_started) {
      on_started(::getpid());
      return absl::StatusOr<pid_t>(::getpid());
    };
    TaskHostDeps d;
    d.launch = [this](std::uint64_t job, std::function<void(pid_t)> on_started) {
      ++launches_;
      return launch_(job, std::move(on_started));
    };
    d.to_worker = [this](std::uint64_t id, const skein::v1::AgentToWorker& m) {
      return server_->send(id, m, std::chrono::steady_clock::now() + 1s);
    };
    d.to_coordinator = [this](skein::v1::ResultBatch b) {
      std::lock_guard<std::mutex> lock(mu_);
      up_.push_back(std::move(b));
    };
    d.stop_worker = [this](pid_t pid) {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_.push_back(pid);
    };
    d.log = [this](std::uint64_t, const std::string& line) {
      std::lock_guard<std::mutex> lock(mu_);
      log_.push_back(line);
    };
    d.node_id = [] { return std::string("n2"); };
    host_ = std::make_unique<TaskHost>(std::move(d));

    WorkerServerHandlers h;
    h.validate = [](std::uint64_t, pid_t) { return true; };
    h.node_id = [] { return std::string("n2"); };
    h.hello = [this](const WorkerInfo& w) { host_->hello(w); };
    h.results = [this](const WorkerInfo& w, skein::v1::ResultBatch b) {
      host_->results(w, b);
      std::lock_guard<std::mutex> lock(mu_);
      up_.push_back(std::move(b));
    };
    h.gone = [this](const WorkerInfo& w) { host_->gone(w); };
    server_ = std::make_unique<WorkerServer>(dir_ + "/agent.sock", 1000ms, std::move(h));
    ASSERT_TRUE(server_->start().ok());
  }
  void TearDown() override {
    server_->stop();
    host_->stop();
    std::filesystem::remove_all(dir_);
  }

  // Connects as the job's task worker; returns the socket after the ack.
  UniqueFd connect_as_task_worker(std::uint64_t job) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = server_->path();
    std::memcpy(addr.sun_path, path.data(), path.size());
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    skein::v1::WorkerToAgent hello;
    hello.mutable_hello()->set_job_id(job);
    hello.mutable_hello()->set_pid(::getpid());
    hello.mutable_hello()->set_role(skein::v1::WORKER_ROLE_TASK);
    EXPECT_TRUE(write_frame(fd.get(), hello.SerializeAsString()).ok());
    EXPECT_TRUE(next(fd.get()).has_hello_ack());
    return fd;
  }
  static skein::v1::AgentToWorker next(int fd) {
    auto bytes = read_frame(fd);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    skein::v1::AgentToWorker m;
    EXPECT_TRUE(bytes.ok() && m.ParseFromString(*bytes));
    return m;
  }
  // The worker answers tasks (as a task worker does, one batch per owner).
  static void answer(int fd, const skein::v1::TaskBatch& tasks) {
    skein::v1::WorkerToAgent m;
    auto* r = m.mutable_results();
    *r->mutable_owner() = tasks.owner();
    for (const auto& t : tasks.tasks()) {
      auto* x = r->add_results();
      x->set_task_id(t.task_id());
      x->set_attempt(t.attempt());
      x->set_node("n2");
    }
    ASSERT_TRUE(write_frame(fd, m.SerializeAsString()).ok());
  }
  std::vector<skein::v1::TaskResult> lost() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<skein::v1::TaskResult> out;
    for (const auto& b : up_) {
      for (const auto& r : b.results()) {
        if (r.error() == kTaskErrorWorkerLost) {
          out.push_back(r);
        }
      }
    }
    return out;
  }
  std::size_t up_count() {
    std::lock_guard<std::mutex> lock(mu_);
    std::size_t n = 0;
    for (const auto& b : up_) {
      n += static_cast<std::size_t>(b.results_size());
    }
    return n;
  }

  std::string dir_;
  std::function<absl::StatusOr<pid_t>(std::uint64_t, std::function<void(pid_t)>)> launch_;
  std::atomic<int> launches_{0};
  std::mutex mu_;
  std::vector<skein::v1::ResultBatch> up_;
  std::vector<pid_t> stopped_;
  std::vector<std::string> log_;
  std::unique_ptr<TaskHost> host_;
  std::unique_ptr<WorkerServer> server_;
};

TEST_F(TaskHostTest, TasksForAJobThisNodeNeverGotFailAtOnceSayingWhy) {
  host_->tasks(batch(3, 1, 4));
  const auto l = lost();
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(l[0].message(), "node n2 never got StartJob for job 3");
  EXPECT_EQ(l[0].node(), "n2");
  EXPECT_EQ(launches_.load(), 0);
  EXPECT_EQ(host_->in_flight(), 0u);
}

TEST_F(TaskHostTest, TasksWaitForTheBinaryAndTheHelloThenReachTheWorkerInOrder) {
  ASSERT_TRUE(host_->expect(5));
  EXPECT_FALSE(host_->expect(5));  // a repeated StartJob
  host_->tasks(batch(5, 1, 2));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(launches_.load(), 0) << "no worker before the binary is verified";
  host_->ready(5);
  ASSERT_TRUE(eventually([&] { return launches_.load() == 1; }));
  host_->tasks(batch(5, 3, 1, /*owner_worker=*/8));
  EXPECT_EQ(launches_.load(), 1) << "one worker per job";
  EXPECT_EQ(host_->in_flight(), 3u);
  EXPECT_EQ(host_->jobs_with_workers(), std::vector<std::uint64_t>{5});

  UniqueFd w = connect_as_task_worker(5);
  const auto first = next(w.get());
  const auto second = next(w.get());
  ASSERT_TRUE(first.has_tasks());
  ASSERT_TRUE(second.has_tasks());
  EXPECT_EQ(first.tasks().tasks(0).task_id(), 1u);
  EXPECT_EQ(first.tasks().owner().worker_id(), 7u);
  EXPECT_EQ(second.tasks().tasks(0).task_id(), 3u);
  EXPECT_EQ(second.tasks().owner().worker_id(), 8u);
  // Once up, a batch goes straight to the worker.
  host_->tasks(batch(5, 10, 2));
  const auto third = next(w.get());
  ASSERT_EQ(third.tasks().tasks_size(), 2);
  EXPECT_EQ(host_->in_flight(), 5u);

  answer(w.get(), first.tasks());
  answer(w.get(), third.tasks());
  ASSERT_TRUE(eventually([&] { return host_->in_flight() == 1u; }));
  answer(w.get(), second.tasks());
  ASSERT_TRUE(eventually([&] { return host_->in_flight() == 0u; }));
  EXPECT_TRUE(lost().empty());
  EXPECT_EQ(up_count(), 5u);
}

TEST_F(TaskHostTest, AWorkerExitFailsWhatItHeldAndTheNextBatchStartsAFreshWorker) {
  ASSERT_TRUE(host_->expect(5));
  host_->ready(5);
  host_->tasks(batch(5, 1, 3));
  ASSERT_TRUE(eventually([&] { return launches_.load() == 1; }));
  UniqueFd w = connect_as_task_worker(5);
  const auto got = next(w.get());
  skein::v1::TaskBatch done = got.tasks();
  done.mutable_tasks()->DeleteSubrange(1, 2);  // task 1 finished, 2 and 3 did not
  answer(w.get(), done);
  ASSERT_TRUE(eventually([&] { return host_->in_flight() == 2u; }));

  EXPECT_FALSE(host_->exited(5, ::getpid() + 100000, "exited with code 0"))
      << "not a task worker of this host";
  ASSERT_TRUE(host_->exited(5, ::getpid(), "killed by signal 9 (Killed)"));
  const auto l = lost();
  ASSERT_EQ(l.size(), 2u);
  const std::string want =
      "worker pid " + std::to_string(::getpid()) + " on node n2 killed by signal 9 (Killed)";
  EXPECT_EQ(l[0].message().substr(0, want.size()), want);
  EXPECT_EQ(l[0].task_id(), 2u);
  EXPECT_EQ(l[1].task_id(), 3u);
  EXPECT_EQ(host_->in_flight(), 0u);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSERT_EQ(log_.size(), 1u);
    EXPECT_NE(log_[0].find("task worker pid"), std::string::npos) << log_[0];
    EXPECT_NE(log_[0].find("2 task(s) in flight lost"), std::string::npos) << log_[0];
  }
  host_->tasks(batch(5, 4, 1));
  EXPECT_TRUE(eventually([&] { return launches_.load() == 2; }));
}

TEST_F(TaskHostTest, AWorkerThatClosesItsSocketIsStoppedAndItsExitReportsTheLoss) {
  ASSERT_TRUE(host_->expect(5));
  host_->ready(5);
  host_->tasks(batch(5, 1, 2));
  ASSERT_TRUE(eventually([&] { return launches_.load() == 1; }));
  {
    UniqueFd w = connect_as_task_worker(5);
    next(w.get());
  }
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu_);
    return stopped_.size() == 1;
  }));
  EXPECT_EQ(stopped_[0], ::getpid());
  EXPECT_TRUE(lost().empty()) << "the loss is reported with the exit";
  // A new batch does not wait for the dying worker.
  host_->tasks(batch(5, 3, 1));
  EXPECT_TRUE(eventually([&] { return launches_.load() == 2; }));
  ASSERT_TRUE(host_->exited(5, ::getpid(), "killed by signal 15 (Terminated)"));
  // Both the old worker's tasks and the fresh one's: same pid in this test.
  const auto l = lost();
  ASSERT_GE(l.size(), 2u);
  EXPECT_NE(l[0].message().find("closed its connection"), std::string::npos) << l[0].message();
}

TEST_F(TaskHostTest, ABinaryThatCannotBeHadRefusesTheJobsTasksWithTheReason) {
  ASSERT_TRUE(host_->expect(6));
  host_->tasks(batch(6, 1, 2));
  EXPECT_EQ(host_->in_flight(), 2u);
  host_->failed(6, "sha256 mismatch: expected 3a7b, got 9f86");
  auto l = lost();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_NE(l[0].message().find("sha256 mismatch"), std::string::npos) << l[0].message();
  host_->tasks(batch(6, 3, 1));
  l = lost();
  ASSERT_EQ(l.size(), 3u);
  EXPECT_NE(l[2].message().find("cannot start a task worker for job 6 on node n2"),
            std::string::npos)
      << l[2].message();
  EXPECT_EQ(launches_.load(), 0);
  EXPECT_EQ(host_->in_flight(), 0u);
}

TEST(TaskHostRefetch, TasksArrivingLongAfterAFailedFetchTryTheBinaryAgain) {
  std::atomic<int> refetches{0};
  std::mutex mu;
  std::vector<skein::v1::ResultBatch> up;
  std::atomic<int> launches{0};
  TaskHostDeps d;
  d.launch = [&](std::uint64_t, std::function<void(pid_t)> on_started) {
    ++launches;
    on_started(4242);
    return absl::StatusOr<pid_t>(4242);
  };
  d.to_worker = [](std::uint64_t, const skein::v1::AgentToWorker&) { return absl::OkStatus(); };
  d.to_coordinator = [&](skein::v1::ResultBatch b) {
    std::lock_guard<std::mutex> lock(mu);
    up.push_back(std::move(b));
  };
  d.stop_worker = [](pid_t) {};
  d.node_id = [] { return std::string("n2"); };
  d.refetch = [&](std::uint64_t) { ++refetches; };
  TaskHost host(std::move(d), TaskHost::kDefaultMaxPendingBytes, /*refetch_after=*/200ms);
  ASSERT_TRUE(host.expect(9));
  host.failed(9, "FetchBinary: UNAVAILABLE: coordinator restarting");
  host.tasks(batch(9, 1, 1));  // right after the failure: refused
  EXPECT_EQ(refetches.load(), 0);
  std::this_thread::sleep_for(250ms);
  host.tasks(batch(9, 2, 1));  // later: waits for a new fetch instead
  EXPECT_EQ(refetches.load(), 1);
  host.tasks(batch(9, 3, 1));
  EXPECT_EQ(refetches.load(), 1) << "one fetch at a time";
  EXPECT_EQ(host.in_flight(), 2u);
  host.ready(9);
  EXPECT_TRUE(eventually([&] { return launches.load() == 1; }));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].results(0).task_id(), 1u);
  EXPECT_NE(up[0].results(0).message().find("UNAVAILABLE"), std::string::npos);
}

TEST(TaskHostBounds, TasksForAWorkerThatDoesNotSayHelloAreBufferedOnlyUpToTheBound) {
  std::mutex mu;
  std::vector<skein::v1::ResultBatch> up;
  TaskHostDeps d;
  d.launch = [](std::uint64_t, std::function<void(pid_t)> on_started) {
    on_started(4243);  // started, but never connects
    return absl::StatusOr<pid_t>(4243);
  };
  d.to_worker = [](std::uint64_t, const skein::v1::AgentToWorker&) { return absl::OkStatus(); };
  d.to_coordinator = [&](skein::v1::ResultBatch b) {
    std::lock_guard<std::mutex> lock(mu);
    up.push_back(std::move(b));
  };
  d.stop_worker = [](pid_t) {};
  d.node_id = [] { return std::string("n2"); };
  TaskHost host(std::move(d), /*max_pending_bytes=*/4096);
  ASSERT_TRUE(host.expect(12));
  host.ready(12);
  host.tasks(batch(12, 1, 10));  // the first batch always fits
  host.tasks(batch(12, 11, 10));
  EXPECT_EQ(host.in_flight(), 10u);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(up.size(), 1u);
  ASSERT_EQ(up[0].results_size(), 10);
  EXPECT_EQ(up[0].results(0).task_id(), 11u);
  EXPECT_NE(up[0].results(0).message().find("has not connected yet"), std::string::npos)
      << up[0].results(0).message();
}

TEST_F(TaskHostTest, ALaunchFailureFailsTheTasksAndTheNextBatchTriesAgain) {
  launch_ = [](std::uint64_t, std::function<void(pid_t)>) {
    return absl::StatusOr<pid_t>(
        absl::FailedPreconditionError("worker failed to start: execveat: Exec format error"));
  };
  ASSERT_TRUE(host_->expect(7));
  host_->ready(7);
  host_->tasks(batch(7, 1, 2));
  ASSERT_TRUE(eventually([&] { return lost().size() == 2; }));
  EXPECT_NE(lost()[0].message().find("Exec format error"), std::string::npos);
  EXPECT_EQ(host_->in_flight(), 0u);
  host_->tasks(batch(7, 3, 1));
  EXPECT_TRUE(eventually([&] { return launches_.load() == 2 && lost().size() == 3; }));
}

TEST_F(TaskHostTest, AnEndedJobRefusesLaterTasks) {
  ASSERT_TRUE(host_->expect(8));
  host_->tasks(batch(8, 1, 1));  // waits for the binary
  host_->forget(8, "cancelled: user");
  ASSERT_EQ(lost().size(), 1u);
  host_->tasks(batch(8, 2, 1));
  const auto l = lost();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[1].message(), "job 8 has ended on node n2: cancelled: user");
  EXPECT_FALSE(host_->expect(8)) << "an ended job is not started again";
}

// Records exits from a real supervisor and hands them to the host, as the
// node agent does.
class ExitToHost : public OutputSink {
 public:
  explicit ExitToHost(TaskHost** host) : host_(host) {}
  bool ready(const std::string&) override { return true; }
  void output(const std::string&, pid_t, OutputStream, std::string_view) override {}
  void exited(const WorkerExit& e) override {
    (*host_)->exited(std::stoull(e.job_id), e.pid, e.message);
    std::lock_guard<std::mutex> lock(mu);
    ++exits;
    cv.notify_all();
  }
  TaskHost** host_;
  std::mutex mu;
  std::condition_variable cv;
  int exits = 0;
};

TEST(TaskHostWithProcesses, TasksInAWorkerKilledBySignal9ComeBackAsWorkerLostWithTheExit) {
  TaskHost* host_ptr = nullptr;
  ExitToHost sink(&host_ptr);
  WorkerSupervisor sup({}, &sink);
  std::mutex mu;
  std::vector<skein::v1::ResultBatch> up;
  TaskHostDeps d;
  d.launch = [&](std::uint64_t job, std::function<void(pid_t)> on_started) {
    LaunchSpec s;
    s.job_id = std::to_string(job);
    s.exe = UniqueFd(::open("/bin/sleep", O_RDONLY | O_CLOEXEC));
    s.argv = {"sleep", "1000"};  // never says hello: its tasks stay buffered
    s.env = {"PATH=/usr/bin:/bin"};
    s.cwd = "/tmp";
    s.on_started = std::move(on_started);
    return sup.launch(std::move(s));
  };
  d.to_worker = [](std::uint64_t, const skein::v1::AgentToWorker&) { return absl::OkStatus(); };
  d.to_coordinator = [&](skein::v1::ResultBatch b) {
    std::lock_guard<std::mutex> lock(mu);
    up.push_back(std::move(b));
  };
  d.stop_worker = [&](pid_t pid) { sup.stop_worker(pid); };
  d.node_id = [] { return std::string("n2"); };
  TaskHost host(std::move(d));
  host_ptr = &host;

  ASSERT_TRUE(host.expect(11));
  host.ready(11);
  host.tasks(batch(11, 1, 3));
  // Started = the host was told (the supervisor lists the pid from the fork on).
  ASSERT_TRUE(
      eventually([&] { return host.jobs_with_workers() == std::vector<std::uint64_t>{11}; }));
  ASSERT_EQ(sup.pids_of("11").size(), 1u);
  const pid_t pid = sup.pids_of("11")[0];
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return !up.empty();
  }));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(up.size(), 1u);
  ASSERT_EQ(up[0].results_size(), 3);
  EXPECT_EQ(up[0].job_id(), 11u);
  EXPECT_EQ(up[0].owner().worker_id(), 7u);
  EXPECT_EQ(up[0].results(0).error(), kTaskErrorWorkerLost);
  EXPECT_EQ(up[0].results(0).message(),
            "worker pid " + std::to_string(pid) + " on node n2 killed by signal 9 (Killed)");
  EXPECT_EQ(host.in_flight(), 0u);
  EXPECT_TRUE(host.jobs_with_workers().empty());
  host.stop();
}

}  // namespace
}  // namespace skein::node
