// WorkerServer over a real Unix socket, with this test process as the worker.
#include "agent/worker_server.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "skein/v1/worker.pb.h"
#include "wire/frame.hpp"

namespace skein::node {
namespace {

using namespace std::chrono_literals;

class WorkerServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/wsrvXXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/agent.sock";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  UniqueFd dial() {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    return fd;
  }
  static std::string hello(std::uint64_t job,
                           skein::v1::WorkerRole role = skein::v1::WORKER_ROLE_DRIVER) {
    skein::v1::WorkerToAgent m;
    m.mutable_hello()->set_job_id(job);
    m.mutable_hello()->set_pid(::getpid());
    m.mutable_hello()->set_role(role);
    return m.SerializeAsString();
  }
  // Connects, says hello and returns the socket and the ack.
  std::pair<UniqueFd, skein::v1::HelloAck> join(std::uint64_t job) {
    UniqueFd fd = dial();
    EXPECT_TRUE(write_frame(fd.get(), hello(job)).ok());
    auto bytes = read_frame(fd.get());
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    skein::v1::AgentToWorker ack;
    EXPECT_TRUE(bytes.ok() && ack.ParseFromString(*bytes) && ack.has_hello_ack());
    return {std::move(fd), ack.hello_ack()};
  }
  static skein::v1::AgentToWorker read_msg(int fd) {
    auto bytes = read_frame(fd);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    skein::v1::AgentToWorker m;
    EXPECT_TRUE(bytes.ok() && m.ParseFromString(*bytes));
    return m;
  }
  static skein::v1::AgentToWorker results_for(std::uint64_t worker_id, std::uint64_t first_task,
                                              int n, std::size_t payload = 0) {
    skein::v1::AgentToWorker m;
    auto* b = m.mutable_results();
    b->set_job_id(9);
    b->mutable_owner()->set_node_id("node-1");
    b->mutable_owner()->set_worker_id(worker_id);
    for (int i = 0; i < n; ++i) {
      auto* r = b->add_results();
      r->set_task_id(first_task + static_cast<std::uint64_t>(i));
      r->set_attempt(1);
      r->set_result(std::string(payload, 'r'));
    }
    return m;
  }
  static std::chrono::steady_clock::time_point in(std::chrono::milliseconds d) {
    return std::chrono::steady_clock::now() + d;
  }
  template <class Pred>
  static bool eventually(Pred p) {
    for (int i = 0; i < 500; ++i) {
      if (p()) {
        return true;
      }
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(WorkerServerTest, HelloThenStatsAreForwardedUntilTheWorkerLeaves) {
  std::uint64_t asked_job = 0;
  pid_t asked_pid = 0;
  WorkerServer server(path_, 1000ms, [&](std::uint64_t job, pid_t pid) {
    asked_job = job;
    asked_pid = pid;
    return true;
  });
  ASSERT_TRUE(server.start().ok());
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u) << "socket must not be reachable by others";

  UniqueFd fd = dial();
  ASSERT_TRUE(write_frame(fd.get(), hello(42)).ok());
  auto ack_bytes = read_frame(fd.get());
  ASSERT_TRUE(ack_bytes.ok()) << ack_bytes.status();
  skein::v1::AgentToWorker ack;
  ASSERT_TRUE(ack.ParseFromString(*ack_bytes));
  EXPECT_EQ(ack.hello_ack().stats_interval_ms(), 1000u);
  EXPECT_EQ(asked_job, 42u);
  EXPECT_EQ(asked_pid, ::getpid());  // from SO_PEERCRED, not from the hello

  skein::v1::WorkerToAgent sample;
  sample.mutable_stats()->mutable_sched()->set_goroutines(17);
  sample.mutable_stats()->mutable_sched()->set_spawned(1000);
  ASSERT_TRUE(write_frame(fd.get(), sample.SerializeAsString()).ok());
  ASSERT_TRUE(eventually([&] { return server.snapshot().size() == 1; }));
  const auto snap = server.snapshot();
  EXPECT_EQ(snap[0].job_id(), 42u);
  EXPECT_EQ(snap[0].pid(), ::getpid());
  EXPECT_TRUE(snap[0].driver());
  EXPECT_EQ(snap[0].sched().goroutines(), 17);
  EXPECT_EQ(server.connected(), 1u);

  fd.reset();
  EXPECT_TRUE(eventually([&] { return server.snapshot().empty() && server.connected() == 0; }));
}

TEST_F(WorkerServerTest, AProcessThatIsNotTheJobsWorkerIsDisconnected) {
  WorkerServer server(path_, 1000ms, [](std::uint64_t, pid_t) { return false; });
  ASSERT_TRUE(server.start().ok());
  UniqueFd fd = dial();
  ASSERT_TRUE(write_frame(fd.get(), hello(7)).ok());
  auto reply = read_frame(fd.get());
  EXPECT_TRUE(absl::IsNotFound(reply.status())) << reply.status();  // closed, no ack
  EXPECT_EQ(server.connected(), 0u);
}

TEST_F(WorkerServerTest, GarbageAndOversizedFramesCloseTheConnection) {
  WorkerServer server(path_, 1000ms, [](std::uint64_t, pid_t) { return true; });
  ASSERT_TRUE(server.start().ok());
  {
    UniqueFd fd = dial();
    const unsigned char huge[4] = {0xff, 0xff, 0xff, 0xff};
    ASSERT_EQ(::write(fd.get(), huge, 4), 4);
    EXPECT_TRUE(absl::IsNotFound(read_frame(fd.get()).status()));
  }
  {
    UniqueFd fd = dial();
    ASSERT_TRUE(write_frame(fd.get(), "\xff\xff\xff not a protobuf").ok());
    EXPECT_TRUE(absl::IsNotFound(read_frame(fd.get()).status()));
  }
  {
    // A first frame that is not a hello.
    UniqueFd fd = dial();
    skein::v1::WorkerToAgent sample;
    sample.mutable_stats()->mutable_sched()->set_goroutines(1);
    ASSERT_TRUE(write_frame(fd.get(), sample.SerializeAsString()).ok());
    EXPECT_TRUE(absl::IsNotFound(read_frame(fd.get()).status()));
  }
  EXPECT_TRUE(server.snapshot().empty());
}

// Everything the handlers saw, for assertions from the test thread.
struct Seen {
  std::mutex mu;
  std::vector<WorkerInfo> hellos;
  std::vector<skein::v1::TaskBatch> tasks;
  std::vector<std::pair<WorkerInfo, skein::v1::ResultBatch>> results;
  std::vector<skein::v1::WaitGroupDeltaBatch> wg_deltas;
  std::vector<WorkerInfo> gone;
  std::atomic<bool> ready{true};

  WorkerServerHandlers handlers() {
    WorkerServerHandlers h;
    h.validate = [](std::uint64_t, pid_t) { return true; };
    h.node_id = [] { return std::string("node-1"); };
    h.hello = [this](const WorkerInfo& w) {
      std::lock_guard<std::mutex> lock(mu);
      hellos.push_back(w);
    };
    h.tasks = [this](skein::v1::TaskBatch b) {
      std::lock_guard<std::mutex> lock(mu);
      tasks.push_back(std::move(b));
    };
    h.results = [this](const WorkerInfo& w, skein::v1::ResultBatch b) {
      std::lock_guard<std::mutex> lock(mu);
      results.emplace_back(w, std::move(b));
    };
    h.wg_deltas = [this](skein::v1::WaitGroupDeltaBatch b) {
      std::lock_guard<std::mutex> lock(mu);
      wg_deltas.push_back(std::move(b));
    };
    h.gone = [this](const WorkerInfo& w) {
      std::lock_guard<std::mutex> lock(mu);
      gone.push_back(w);
    };
    h.upstream_ready = [this] { return ready.load(); };
    return h;
  }
  template <class F>
  auto with(F f) {
    std::lock_guard<std::mutex> lock(mu);
    return f();
  }
};

TEST_F(WorkerServerTest, EachConnectionGetsItsOwnWorkerIdAndTheNodeIdInTheAck) {
  Seen seen;
  WorkerServer server(path_, 1000ms, seen.handlers());
  ASSERT_TRUE(server.start().ok());
  auto [a, ack_a] = join(5);
  auto [b, ack_b] = join(5);
  EXPECT_NE(ack_a.worker_id(), 0u);
  EXPECT_NE(ack_b.worker_id(), 0u);
  EXPECT_NE(ack_a.worker_id(), ack_b.worker_id());
  EXPECT_EQ(ack_a.node_id(), "node-1");
  // An id is never reused, not even after its connection is gone.
  a.reset();
  ASSERT_TRUE(eventually([&] { return seen.with([&] { return seen.gone.size() == 1; }); }));
  auto [c, ack_c] = join(5);
  EXPECT_NE(ack_c.worker_id(), ack_a.worker_id());
  EXPECT_NE(ack_c.worker_id(), ack_b.worker_id());
  EXPECT_EQ(seen.with([&] { return seen.gone[0].worker_id; }), ack_a.worker_id());
  // The hello handler runs right after the ack is written.
  EXPECT_TRUE(eventually([&] { return seen.with([&] { return seen.hellos.size() == 3; }); }));
}

TEST_F(WorkerServerTest, TaskBatchGetsJobAndOwnerFromTheConnectionNotFromTheWorker) {
  Seen seen;
  WorkerServer server(path_, 1000ms, seen.handlers());
  ASSERT_TRUE(server.start().ok());
  auto [fd, ack] = join(42);
  skein::v1::WorkerToAgent m;
  auto* batch = m.mutable_tasks();
  batch->set_job_id(777);                         // a lie
  batch->mutable_owner()->set_node_id("node-9");  // another lie
  batch->mutable_owner()->set_worker_id(12345);
  for (int i = 1; i <= 3; ++i) {
    auto* t = batch->add_tasks();
    t->set_task_id(static_cast<std::uint64_t>(i));
    t->set_attempt(1);
    t->set_function("fib");
  }
  ASSERT_TRUE(write_frame(fd.get(), m.SerializeAsString()).ok());
  ASSERT_TRUE(eventually([&] { return seen.with([&] { return seen.tasks.size() == 1; }); }));
  const auto got = seen.with([&] { return seen.tasks[0]; });
  EXPECT_EQ(got.job_id(), 42u);
  EXPECT_EQ(got.owner().node_id(), "node-1");
  EXPECT_EQ(got.owner().worker_id(), ack.worker_id());
  ASSERT_EQ(got.tasks_size(), 3);
  EXPECT_EQ(got.tasks(2).task_id(), 3u);
  EXPECT_EQ(got.tasks(2).function(), "fib");
}

TEST_F(WorkerServerTest, ResultsFromAWorkerKeepTheirOwnerAndCarryTheConnectionsJob) {
  Seen seen;
  WorkerServer server(path_, 1000ms, seen.handlers());
  ASSERT_TRUE(server.start().ok());
  auto [fd, ack] = join(8);
  skein::v1::WorkerToAgent m;
  m.mutable_results()->set_job_id(1);
  m.mutable_results()->mutable_owner()->set_node_id("node-3");
  m.mutable_results()->mutable_owner()->set_worker_id(17);
  m.mutable_results()->add_results()->set_task_id(5);
  ASSERT_TRUE(write_frame(fd.get(), m.SerializeAsString()).ok());
  // Results without an owner cannot be routed: dropped, the connection stays.
  skein::v1::WorkerToAgent orphan;
  orphan.mutable_results()->add_results()->set_task_id(6);
  ASSERT_TRUE(write_frame(fd.get(), orphan.SerializeAsString()).ok());
  ASSERT_TRUE(write_frame(fd.get(), m.SerializeAsString()).ok());
  ASSERT_TRUE(eventually([&] { return seen.with([&] { return seen.results.size() == 2; }); }));
  const auto [who, got] = seen.with([&] { return seen.results[0]; });
  EXPECT_EQ(who.worker_id, ack.worker_id());
  EXPECT_EQ(who.pid, ::getpid());
  EXPECT_EQ(got.job_id(), 8u);
  EXPECT_EQ(got.owner().node_id(), "node-3");
  EXPECT_EQ(got.owner().worker_id(), 17u);
  EXPECT_EQ(server.connected(), 1u);
}

// DistWaitGroup deltas: the owner is the group's (kept as the worker wrote
// it), the job is the connection's; deltas without an owner are dropped.
TEST_F(WorkerServerTest, WaitGroupDeltasKeepTheGroupOwnerAndCarryTheConnectionsJob) {
  Seen seen;
  WorkerServer server(path_, 1000ms, seen.handlers());
  ASSERT_TRUE(server.start().ok());
  auto [fd, ack] = join(8);
  skein::v1::WorkerToAgent m;
  auto* b = m.mutable_wg_deltas();
  b->set_job_id(999);  // a lie
  b->mutable_owner()->set_node_id("node-3");
  b->mutable_owner()->set_worker_id(17);
  auto* d = b->add_deltas();
  d->set_group_id(4);
  d->set_delta(-1);
  skein::v1::WorkerToAgent orphan;
  orphan.mutable_wg_deltas()->add_deltas()->set_delta(1);
  ASSERT_TRUE(write_frame(fd.get(), orphan.SerializeAsString()).ok());
  ASSERT_TRUE(write_frame(fd.get(), m.SerializeAsString()).ok());
  ASSERT_TRUE(eventually([&] { return seen.with([&] { return seen.wg_deltas.size() == 1; }); }));
  const auto got = seen.with([&] { return seen.wg_deltas[0]; });
  EXPECT_EQ(got.job_id(), 8u);
  EXPECT_EQ(got.owner().node_id(), "node-3");
  EXPECT_EQ(got.owner().worker_id(), 17u);
  ASSERT_EQ(got.deltas_size(), 1);
  EXPECT_EQ(got.deltas(0).group_id(), 4u);
  EXPECT_EQ(got.deltas(0).delta(), -1);
  // The owner's side: send() delivers AgentToWorker.wg_deltas by worker id.
  skein::v1::AgentToWorker down;
  *down.mutable_wg_deltas() = got;
  ASSERT_TRUE(server.send(ack.worker_id(), down, in(1s)).ok());
  const skein::v1::AgentToWorker read = read_msg(fd.get());
  ASSERT_TRUE(read.has_wg_deltas());
  EXPECT_EQ(read.wg_deltas().deltas(0).delta(), -1);
  EXPECT_EQ(seen.with([&] { return seen.wg_deltas.size(); }), 1u);
  EXPECT_EQ(server.connected(), 1u);
}

TEST_F(WorkerServerTest, SendRoutesByWorkerIdAndRefusesUnknownOrGoneWorkers) {
  Seen seen;
  WorkerServer server(path_, 1000ms, seen.handlers());
  ASSERT_TRUE(server.start().ok());
  auto [a, ack_a] = join(3);
  auto [b, ack_b] = join(3);
  ASSERT_TRUE(server.send(ack_b.worker_id(), results_for(ack_b.worker_id(), 100, 2), in(1s)).ok());
  ASSERT_TRUE(server.send(ack_a.worker_id(), results_for(ack_a.worker_id(), 200, 1), in(1s)).ok());
  const auto got_a = read_msg(a.get());
  const auto got_b = read_msg(b.get());
  ASSERT_TRUE(got_a.has_results());
  ASSERT_TRUE(got_b.has_results());
  EXPECT_EQ(got_a.results().results(0).task_id(), 200u);
  EXPECT_EQ(got_b.results().results_size(), 2);
  EXPECT_EQ(got_b.results().results(0).task_id(), 100u);

  EXPECT_TRUE(absl::IsNotFound(server.send(999999, results_for(999999, 1, 1), in(1s))));
  a.reset();
  ASSERT_TRUE(eventually([&] { return seen.with([&] { return seen.gone.size() == 1; }); }));
  EXPECT_TRUE(absl::IsNotFound(
      server.send(ack_a.worker_id(), results_for(ack_a.worker_id(), 1, 1), in(1s))));
}

TEST_F(WorkerServerTest, AWorkerThatDoesNotReadIsBoundedAndDoesNotStallTheOthers) {
  constexpr std::size_t kBound = 256 * 1024;
  Seen seen;
  WorkerServer server(path_, 1000ms, seen.handlers(), kBound);
  ASSERT_TRUE(server.start().ok());
  auto [slow, ack_slow] = join(4);
  auto [fast, ack_fast] = join(4);
  // 64 KiB frames to a worker that never reads: the socket buffer fills,
  // then the queue, then send() times out instead of growing the queue.
  int accepted = 0;
  absl::Status last;
  for (int i = 0; i < 400; ++i) {
    last = server.send(ack_slow.worker_id(), results_for(ack_slow.worker_id(), i, 1, 64 * 1024),
                       in(20ms));
    if (!last.ok()) {
      break;
    }
    ++accepted;
  }
  EXPECT_TRUE(absl::IsResourceExhausted(last)) << last;
  EXPECT_LT(accepted, 400);
  EXPECT_LE(server.queued_bytes(ack_slow.worker_id()), kBound + 70 * 1024);
  // The loop thread is not stuck behind the slow worker.
  ASSERT_TRUE(
      server.send(ack_fast.worker_id(), results_for(ack_fast.worker_id(), 1, 1), in(1s)).ok());
  EXPECT_EQ(read_msg(fast.get()).results().results(0).task_id(), 1u);
  // Once the slow worker reads, everything accepted arrives, in order.
  for (int i = 0; i < accepted; ++i) {
    const auto m = read_msg(slow.get());
    ASSERT_TRUE(m.has_results());
    ASSERT_EQ(m.results().results(0).task_id(), static_cast<std::uint64_t>(i));
  }
  EXPECT_TRUE(eventually([&] { return server.queued_bytes(ack_slow.worker_id()) == 0; }));
}

TEST_F(WorkerServerTest, WhileUpstreamIsNotReadyWorkerFramesWaitInTheSocket) {
  Seen seen;
  WorkerServer server(path_, 1000ms, seen.handlers());
  ASSERT_TRUE(server.start().ok());
  auto [fd, ack] = join(6);
  seen.ready = false;
  skein::v1::WorkerToAgent m;
  m.mutable_tasks()->add_tasks()->set_task_id(1);
  ASSERT_TRUE(write_frame(fd.get(), m.SerializeAsString()).ok());
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(seen.with([&] { return seen.tasks.size(); }), 0u);
  seen.ready = true;
  EXPECT_TRUE(eventually([&] { return seen.with([&] { return seen.tasks.size() == 1; }); }));
}

}  // namespace
}  // namespace skein::node
