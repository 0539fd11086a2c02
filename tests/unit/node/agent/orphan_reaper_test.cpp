#include "agent/orphan_reaper.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace skein::node {
namespace {

bool alive(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all;
  if (!std::getline(f, all)) {
    return false;
  }
  const auto close = all.rfind(')');
  return close != std::string::npos && all[close + 2] != 'Z';
}

// A "worker" that started a helper in its session, then died: the situation
// an agent killed with SIGKILL leaves behind.
TEST(OrphanReaper, KillsWhatADeadWorkerLeftInItsSession) {
  char tmpl[] = "/tmp/orphansXXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  int to_parent[2], to_worker[2];
  ASSERT_EQ(::pipe(to_parent), 0);
  ASSERT_EQ(::pipe(to_worker), 0);
  const pid_t worker = ::fork();
  if (worker == 0) {
    ::setsid();
    const pid_t helper = ::fork();
    if (helper == 0) {
      while (true) {
        ::pause();
      }
    }
    [[maybe_unused]] ssize_t w = ::write(to_parent[1], &helper, sizeof(helper));
    char go;
    [[maybe_unused]] ssize_t r = ::read(to_worker[0], &go, 1);
    ::_exit(0);
  }
  pid_t helper = 0;
  ASSERT_EQ(::read(to_parent[0], &helper, sizeof(helper)), static_cast<ssize_t>(sizeof(helper)));
  record_worker(dir, worker);
  ASSERT_TRUE(std::filesystem::exists(dir / std::to_string(worker)));
  ASSERT_EQ(::write(to_worker[1], "x", 1), 1);
  ::waitpid(worker, nullptr, 0);
  ASSERT_TRUE(alive(helper));

  EXPECT_GE(reap_orphans(dir), 1);
  for (int i = 0; i < 200 && alive(helper); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(alive(helper));
  EXPECT_TRUE(std::filesystem::is_empty(dir));  // records are consumed
  EXPECT_EQ(reap_orphans(dir), 0);
  for (int fd : {to_parent[0], to_parent[1], to_worker[0], to_worker[1]}) {
    ::close(fd);
  }
  std::filesystem::remove_all(dir);
}

TEST(OrphanReaper, ForgottenWorkersAreNotTouched) {
  char tmpl[] = "/tmp/orphansXXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  record_worker(dir, ::getpid());
  forget_worker(dir, ::getpid());
  EXPECT_EQ(reap_orphans(dir), 0);  // and this test process is still here
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace skein::node
