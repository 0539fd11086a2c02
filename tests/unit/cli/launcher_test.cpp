#include "launcher.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace skein::cli {
namespace {

class LauncherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/launchXXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(LauncherTest, PidfileRoundTripsAndIdentifiesTheProcess) {
  const PidRecord self{::getpid(), process_start_time(::getpid())};
  ASSERT_GT(self.start_time, 0u);
  const std::string path = (dir_ / "x.pid").string();
  ASSERT_TRUE(write_pidfile(path, self).ok());
  auto back = read_pidfile(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->pid, self.pid);
  EXPECT_EQ(back->start_time, self.start_time);
  EXPECT_TRUE(is_running(*back));
  // Same pid, another start time: a recycled pid, not ours.
  PidRecord recycled = self;
  recycled.start_time += 1;
  EXPECT_FALSE(is_running(recycled));
}

TEST_F(LauncherTest, MalformedOrMissingPidfileIsAnError) {
  EXPECT_TRUE(absl::IsNotFound(read_pidfile((dir_ / "none.pid").string()).status()));
  std::ofstream(dir_ / "bad.pid") << "not a pid\n";
  EXPECT_FALSE(read_pidfile((dir_ / "bad.pid").string()).ok());
}

TEST_F(LauncherTest, StartDaemonThenStopProcessWithSigtermEscalation) {
  DaemonSpec spec;
  spec.exe = "/bin/sh";
  // Ignores SIGTERM: stop_process must escalate to SIGKILL after the grace.
  spec.args = {"-c", "trap '' TERM; echo started; while :; do sleep 1; done"};
  spec.log_file = (dir_ / "d.log").string();
  spec.pid_file = (dir_ / "d.pid").string();
  auto rec = start_daemon(spec);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_TRUE(is_running(*rec));
  auto line = wait_for_file(spec.log_file, std::chrono::milliseconds(5000), 0);
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, "started");
  EXPECT_EQ(::getsid(rec->pid), rec->pid);  // its own session
  ASSERT_TRUE(stop_process(*rec, std::chrono::milliseconds(200)).ok());
  EXPECT_FALSE(is_running(*rec));
}

TEST_F(LauncherTest, WaitForFileFailsFastWhenTheWatchedChildExits) {
  const pid_t child = ::fork();
  if (child == 0) {
    ::_exit(3);
  }
  auto r = wait_for_file((dir_ / "never").string(), std::chrono::milliseconds(5000), child);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("exited with code 3"), std::string::npos) << r.status();
  auto t = wait_for_file((dir_ / "never").string(), std::chrono::milliseconds(50), 0);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(LauncherTest, TailFileKeepsTheLastLines) {
  std::ofstream(dir_ / "log") << "1\n2\n3\n4\n";
  EXPECT_EQ(tail_file((dir_ / "log").string(), 2), "  | 3\n  | 4\n");
}

}  // namespace
}  // namespace skein::cli
