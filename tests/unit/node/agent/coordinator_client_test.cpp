// CoordinatorClient's task path over a real gRPC stream on 127.0.0.1. The
// server is a recording NodeGateway that stands in for the coordinator's
// stream end only (what an agent writes is what it records), so the client's
// own behaviour can be observed: no wait for the heartbeat, merging under a
// busy stream, nothing lost across an outage.
#include "agent/coordinator_client.hpp"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "skein/common/auth.hpp"

namespace skein::node {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kToken(64, 'a');
// Far longer than any test: task traffic must not wait for it.
constexpr std::uint32_t kHeartbeatMs = 30000;

class RecordingGateway final : public skein::v1::NodeGateway::Service {
 public:
  grpc::Status Register(grpc::ServerContext*, const skein::v1::RegisterRequest*,
                        skein::v1::RegisterResponse* resp) override {
    resp->set_node_id("node-1");
    resp->set_epoch(1);
    resp->set_heartbeat_period_ms(kHeartbeatMs);
    resp->set_miss_limit(5);
    return grpc::Status::OK;
  }
  grpc::Status Connect(grpc::ServerContext*,
                       grpc::ServerReaderWriter<skein::v1::CoordinatorMessage,
                                                skein::v1::AgentMessage>* stream) override {
    skein::v1::AgentMessage m;
    if (!stream->Read(&m) || !m.has_hello()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello first");
    }
    skein::v1::CoordinatorMessage ack;
    ack.mutable_ack()->set_heartbeat_period_ms(kHeartbeatMs);
    ack.mutable_ack()->set_miss_limit(5);
    stream->Write(ack);
    while (stream->Read(&m)) {
      if (read_delay.count() > 0) {
        std::this_thread::sleep_for(read_delay);
      }
      std::lock_guard<std::mutex> lock(mu);
      if (m.has_tasks() || m.has_results() || m.has_wg_deltas()) {
        got.push_back(m);
        arrival.push_back(Clock::now());
      }
    }
    return grpc::Status::OK;
  }

  std::size_t tasks_received() {
    std::lock_guard<std::mutex> lock(mu);
    std::size_t n = 0;
    for (const auto& m : got) {
      n += static_cast<std::size_t>(m.has_tasks() ? m.tasks().tasks_size()
                                                  : m.results().results_size());
    }
    return n;
  }

  // Wait-group delta entries received, summed per group id.
  std::map<std::uint64_t, std::int64_t> wg_sums() {
    std::lock_guard<std::mutex> lock(mu);
    std::map<std::uint64_t, std::int64_t> out;
    for (const auto& m : got) {
      for (const auto& d : m.wg_deltas().deltas()) {
        out[d.group_id()] += d.delta();
      }
    }
    return out;
  }

  std::chrono::milliseconds read_delay{0};
  std::mutex mu;
  std::vector<skein::v1::AgentMessage> got;
  std::vector<Clock::time_point> arrival;
};

class CoordinatorClientTest : public ::testing::Test {
 protected:
  void SetUp() override { start_server(0); }
  void TearDown() override {
    if (client_) {
      client_->stop();
    }
    stop_server();
  }
  void start_server(int port) {
    auto auth = make_server_auth(AuthConfig{kToken, {}}, "127.0.0.1:0");
    ASSERT_TRUE(auth.ok()) << auth.status();
    gateway_ = std::make_unique<RecordingGateway>();
    gateway_->read_delay = read_delay_;
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:" + std::to_string(port), auth->credentials, &port_);
    b.RegisterService(gateway_.get());
    server_ = b.BuildAndStart();
    ASSERT_TRUE(server_ != nullptr);
    ASSERT_GT(port_, 0);
  }
  void stop_server() {
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + 200ms);
      server_.reset();
    }
  }
  void start_client(std::size_t max_task_bytes = std::size_t{32} << 20) {
    CoordinatorClientOptions o;
    o.address = "127.0.0.1:" + std::to_string(port_);
    o.auth.token = kToken;
    o.resources.set_cpus(2);
    o.hostname = "test";
    o.max_queued_task_bytes = max_task_bytes;
    o.min_backoff = 50ms;
    o.max_backoff = 200ms;
    CoordinatorHandlers h;
    h.start_job = [](const skein::v1::StartJob&) {};
    h.cancel_job = [](const skein::v1::CancelJobCommand&) {};
    h.shutdown = [](const std::string&) {};
    h.node_lost = [](const std::string&) {};
    h.heartbeat = [] { return skein::v1::Heartbeat(); };
    h.fatal = [](const absl::Status&) {};
    h.running_jobs = [] { return std::vector<std::uint64_t>(); };
    client_ = std::make_unique<CoordinatorClient>(std::move(o), std::move(h));
    ASSERT_TRUE(client_->start().ok());
    ASSERT_TRUE(client_->wait_connected(10s));
  }
  static skein::v1::TaskBatch one_task(std::uint64_t id, std::uint64_t owner,
                                       std::size_t arg_bytes = 0) {
    skein::v1::TaskBatch b;
    b.set_job_id(3);
    b.mutable_owner()->set_node_id("node-1");
    b.mutable_owner()->set_worker_id(owner);
    auto* t = b.add_tasks();
    t->set_task_id(id);
    t->set_attempt(1);
    t->set_function("f");
    t->set_args(std::string(arg_bytes, 'x'));
    return b;
  }
  template <class Pred>
  static bool eventually(Pred p, std::chrono::milliseconds limit = 10s) {
    const auto end = Clock::now() + limit;
    while (Clock::now() < end) {
      if (p()) {
        return true;
      }
      std::this_thread::sleep_for(2ms);
    }
    return p();
  }

  std::chrono::milliseconds read_delay_{0};
  int port_ = 0;
  std::unique_ptr<RecordingGateway> gateway_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<CoordinatorClient> client_;
};

TEST_F(CoordinatorClientTest, ATaskGoesOutAtOnceNotWithTheNextHeartbeat) {
  start_client();
  std::this_thread::sleep_for(100ms);  // the writer is idle, waiting for the heartbeat
  for (int i = 0; i < 5; ++i) {
    const auto sent = Clock::now();
    client_->send_tasks(one_task(static_cast<std::uint64_t>(i + 1), 1));
    ASSERT_TRUE(
        eventually([&] { return gateway_->tasks_received() == static_cast<std::size_t>(i + 1); }));
    std::lock_guard<std::mutex> lock(gateway_->mu);
    EXPECT_LT(gateway_->arrival.back() - sent, 1s) << "heartbeat period is " << kHeartbeatMs;
  }
}

TEST_F(CoordinatorClientTest, WhatQueuesWhileAWriteIsInFlightIsMergedPerOwnerInOrder) {
  stop_server();
  read_delay_ = 2ms;  // a busy coordinator: the stream backs up
  start_server(0);
  start_client();
  constexpr int kTasks = 3000;
  for (int i = 1; i <= kTasks; ++i) {
    // Two owners interleaved, 2 KiB of args each: far more than a stream's
    // flow-control window, so writes block and batches queue meanwhile.
    client_->send_tasks(one_task(static_cast<std::uint64_t>(i), 1 + i % 2, 2048));
  }
  ASSERT_TRUE(eventually([&] { return gateway_->tasks_received() == kTasks; }, 60s));
  std::lock_guard<std::mutex> lock(gateway_->mu);
  std::uint64_t last[3] = {0, 0, 0};
  for (const auto& m : gateway_->got) {
    ASSERT_TRUE(m.has_tasks());
    const auto owner = m.tasks().owner().worker_id();
    ASSERT_TRUE(owner == 1 || owner == 2);
    EXPECT_LE(m.tasks().tasks_size(), CoordinatorClient::kMaxBatchEntries);
    EXPECT_LE(m.tasks().ByteSizeLong(), CoordinatorClient::kMaxBatchBytes + 4096);
    for (const auto& t : m.tasks().tasks()) {
      EXPECT_EQ(1 + t.task_id() % 2, owner) << "a message mixes owners";
      EXPECT_GT(t.task_id(), last[owner]) << "an owner's tasks were reordered";
      last[owner] = t.task_id();
    }
  }
  EXPECT_LT(gateway_->got.size(), static_cast<std::size_t>(kTasks / 4))
      << "batches were not merged";
  EXPECT_GT(client_->task_batches_merged(), 0u);
  std::printf("%d single-task batches arrived in %zu messages (%" PRIu64 " merges)\n", kTasks,
              gateway_->got.size(), client_->task_batches_merged());
}

TEST_F(CoordinatorClientTest, TasksQueuedWhileTheCoordinatorIsDownArriveAfterItComesBack) {
  start_client(/*max_task_bytes=*/64 * 1024);
  const int port = port_;
  stop_server();
  ASSERT_TRUE(eventually([&] { return !client_->connected(); }));
  int queued = 0;
  while (client_->tasks_ready()) {
    client_->send_tasks(one_task(static_cast<std::uint64_t>(++queued), 1, 1024));
    ASSERT_LT(queued, 10000) << "the task queue is not bounded";
  }
  // 64 KiB of memory at ~1.3 KiB per queued task (1 KiB of args, the rest
  // message overhead), merged or not.
  EXPECT_GE(queued, 40);
  EXPECT_LE(queued, 64);
  start_server(port);
  ASSERT_EQ(port_, port);
  ASSERT_TRUE(eventually(
      [&] { return gateway_->tasks_received() == static_cast<std::size_t>(queued); }, 20s))
      << gateway_->tasks_received() << " of " << queued;
  EXPECT_TRUE(eventually([&] { return client_->tasks_ready(); }));
}

TEST_F(CoordinatorClientTest, WhatWasWrittenJustBeforeTheStreamBrokeIsSentAgain) {
  start_client();
  for (int i = 1; i <= 10; ++i) {
    client_->send_tasks(one_task(static_cast<std::uint64_t>(i), 1));
  }
  ASSERT_TRUE(eventually([&] { return gateway_->tasks_received() == 10; }));
  // Written is not read: the client cannot know this coordinator took them,
  // so the next stream gets them again (the coordinator and owners drop
  // duplicates; a loss would hang a Future).
  const int port = port_;
  stop_server();
  start_server(port);
  ASSERT_TRUE(eventually([&] { return gateway_->tasks_received() == 10; }, 20s));
  EXPECT_GE(client_->task_messages_resent(), 1u);
  std::lock_guard<std::mutex> lock(gateway_->mu);
  std::uint64_t want = 1;
  for (const auto& m : gateway_->got) {
    for (const auto& t : m.tasks().tasks()) {
      EXPECT_EQ(t.task_id(), want++);
    }
  }
}

// Wait-group deltas share the task queue but are not idempotent: after the
// stream breaks the tasks written just before are sent again, the deltas are
// not (a duplicate would count twice at the group's owner).
TEST_F(CoordinatorClientTest, WaitGroupDeltasAreNeverSentAgainAfterABrokenStream) {
  start_client();
  const auto deltas = [](std::uint64_t group, std::int64_t delta) {
    skein::v1::WaitGroupDeltaBatch b;
    b.set_job_id(3);
    b.mutable_owner()->set_node_id("node-2");
    b.mutable_owner()->set_worker_id(9);
    auto* d = b.add_deltas();
    d->set_group_id(group);
    d->set_delta(delta);
    return b;
  };
  client_->send_tasks(one_task(1, 1));
  client_->send_wg_deltas(deltas(5, -1));
  client_->send_wg_deltas(deltas(5, -2));
  client_->send_wg_deltas(deltas(6, 4));
  ASSERT_TRUE(eventually([&] {
    return gateway_->tasks_received() == 1 && gateway_->wg_sums()[5] == -3 &&
           gateway_->wg_sums()[6] == 4;
  }));
  {
    std::lock_guard<std::mutex> lock(gateway_->mu);
    for (const auto& m : gateway_->got) {
      if (m.has_wg_deltas()) {
        EXPECT_EQ(m.wg_deltas().owner().node_id(), "node-2");
        EXPECT_EQ(m.wg_deltas().owner().worker_id(), 9u);
        EXPECT_EQ(m.wg_deltas().job_id(), 3u);
      }
    }
  }
  const int port = port_;
  stop_server();
  start_server(port);
  // The task comes again; then a fresh delta, queued behind whatever the
  // client re-sends, marks the point by which old deltas would have arrived.
  ASSERT_TRUE(eventually([&] { return gateway_->tasks_received() == 1; }, 20s));
  client_->send_wg_deltas(deltas(7, -1));
  ASSERT_TRUE(eventually([&] { return gateway_->wg_sums()[7] == -1; }));
  const auto sums = gateway_->wg_sums();
  EXPECT_EQ(sums.count(5) + sums.count(6), 0u) << "a delta was sent twice";
}

}  // namespace
}  // namespace skein::node
