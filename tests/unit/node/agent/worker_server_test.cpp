// WorkerServer over a real Unix socket, with this test process as the worker.
#include "agent/worker_server.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

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
  static std::string hello(std::uint64_t job) {
    skein::v1::WorkerToAgent m;
    m.mutable_hello()->set_job_id(job);
    m.mutable_hello()->set_pid(::getpid());
    m.mutable_hello()->set_role(skein::v1::WORKER_ROLE_DRIVER);
    return m.SerializeAsString();
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

}  // namespace
}  // namespace skein::node
