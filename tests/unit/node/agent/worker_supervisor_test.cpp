// WorkerSupervisor with real processes (/bin/sh, /usr/bin/env, /bin/ls).
#include "agent/worker_supervisor.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

namespace skein::node {
namespace {

using namespace std::chrono_literals;

// Records everything the supervisor reports, in order.
class RecordingSink : public OutputSink {
 public:
  bool ready(const std::string&) override { return accepting.load(); }
  void output(const std::string& job, pid_t /*pid*/, OutputStream s,
              std::string_view data) override {
    std::lock_guard<std::mutex> lock(mu);
    (s == OutputStream::kStdout ? out : err)[job] += std::string(data);
    events.push_back("output:" + job);
  }
  void exited(const WorkerExit& e) override {
    std::lock_guard<std::mutex> lock(mu);
    exits[e.job_id] = e;
    events.push_back("exit:" + e.job_id);
    cv.notify_all();
  }
  bool wait_exit(const std::string& job, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, [&] { return exits.count(job) > 0; });
  }
  std::string stdout_of(const std::string& job) {
    std::lock_guard<std::mutex> lock(mu);
    return out[job];
  }

  std::atomic<bool> accepting{true};
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::string> out, err;
  std::map<std::string, WorkerExit> exits;
  std::vector<std::string> events;
};

bool alive(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all;
  if (!std::getline(f, all)) {
    return false;
  }
  const auto close = all.rfind(')');
  return close != std::string::npos && all[close + 2] != 'Z';
}

LaunchSpec spec_for(const std::string& job, const char* exe, std::vector<std::string> argv) {
  LaunchSpec s;
  s.job_id = job;
  s.exe = UniqueFd(::open(exe, O_RDONLY | O_CLOEXEC));
  s.argv = std::move(argv);
  s.env = {"PATH=/usr/bin:/bin", "SKEIN_JOB_ID=" + job};
  s.cwd = "/tmp";
  return s;
}

TEST(WorkerSupervisor, ReportsStartThenOutputThenExitCode) {
  RecordingSink sink;
  WorkerSupervisor sup({}, &sink);
  auto spec = spec_for("1", "/bin/sh", {"sh", "-c", "echo out; echo err >&2; exit 3"});
  std::atomic<pid_t> started{0};
  spec.on_started = [&](pid_t p) {
    std::lock_guard<std::mutex> lock(sink.mu);
    sink.events.push_back("started");
    started = p;
  };
  auto pid = sup.launch(std::move(spec));
  ASSERT_TRUE(pid.ok()) << pid.status();
  EXPECT_EQ(started.load(), *pid);
  ASSERT_TRUE(sink.wait_exit("1"));
  EXPECT_EQ(sink.out["1"], "out\n");
  EXPECT_EQ(sink.err["1"], "err\n");
  EXPECT_EQ(sink.exits["1"].exit_code, 3);
  EXPECT_EQ(sink.exits["1"].term_signal, 0);
  EXPECT_EQ(sink.exits["1"].message, "exited with code 3");
  ASSERT_GE(sink.events.size(), 3u);
  EXPECT_EQ(sink.events.front(), "started");
  EXPECT_EQ(sink.events.back(), "exit:1");
  EXPECT_EQ(sup.running(), 0u);
}

TEST(WorkerSupervisor, ReportsTheSignalThatKilledTheWorker) {
  RecordingSink sink;
  WorkerSupervisor sup({}, &sink);
  ASSERT_TRUE(sup.launch(spec_for("2", "/bin/sh", {"sh", "-c", "kill -SEGV $$"})).ok());
  ASSERT_TRUE(sink.wait_exit("2"));
  EXPECT_EQ(sink.exits["2"].term_signal, SIGSEGV);
  EXPECT_NE(sink.exits["2"].message.find("signal 11"), std::string::npos);
}

TEST(WorkerSupervisor, EnvironmentIsExactlyTheAllowList) {
  RecordingSink sink;
  WorkerSupervisor sup({}, &sink);
  ::setenv("SKEIN_SUPERVISOR_TEST_SECRET", "must-not-leak", 1);
  ASSERT_TRUE(sup.launch(spec_for("3", "/usr/bin/env", {"env"})).ok());
  ASSERT_TRUE(sink.wait_exit("3"));
  EXPECT_EQ(sink.stdout_of("3"), "PATH=/usr/bin:/bin\nSKEIN_JOB_ID=3\n");
}

TEST(WorkerSupervisor, InheritedDescriptorsAreClosed) {
  RecordingSink sink;
  WorkerSupervisor sup({}, &sink);
  const int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
  ASSERT_GE(leaked, 0);
  ASSERT_TRUE(sup.launch(spec_for("4", "/bin/ls", {"ls", "/proc/self/fd"})).ok());
  ASSERT_TRUE(sink.wait_exit("4"));
  // 0-2 are stdio, 3 is ls's own directory handle.
  EXPECT_EQ(sink.stdout_of("4"), "0\n1\n2\n3\n");
  ::close(leaked);
}

TEST(WorkerSupervisor, RlimitsAreApplied) {
  RecordingSink sink;
  WorkerSupervisor sup({}, &sink);
  auto spec = spec_for("5", "/bin/sh", {"sh", "-c", "ulimit -c; ulimit -n; ulimit -t"});
  spec.limits.max_open_files = 321;
  spec.limits.cpu_seconds = 77;
  ASSERT_TRUE(sup.launch(std::move(spec)).ok());
  ASSERT_TRUE(sink.wait_exit("5"));
  EXPECT_EQ(sink.stdout_of("5"), "0\n321\n77\n");
}

TEST(WorkerSupervisor, CancelKillsTheWholeProcessGroupAfterGrace) {
  RecordingSink sink;
  SupervisorOptions options;
  options.cancel_grace = 200ms;
  WorkerSupervisor sup(options, &sink);
  char tmpl[] = "/tmp/suptestXXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string pidfile = dir + "/helper";
  // The worker ignores SIGTERM (so SIGKILL after the grace is needed) and
  // leaves a helper in its process group.
  auto spec =
      spec_for("6", "/bin/sh",
               {"sh", "-c",
                "trap '' TERM; sleep 1000 & echo $! > " + pidfile + "; while :; do sleep 1; done"});
  auto pid = sup.launch(std::move(spec));
  ASSERT_TRUE(pid.ok());
  for (int i = 0; i < 500 && !std::filesystem::exists(pidfile); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  pid_t helper = 0;
  std::ifstream(pidfile) >> helper;
  ASSERT_GT(helper, 0);
  EXPECT_EQ(sup.pids_of("6"), std::vector<pid_t>{*pid});
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(sup.cancel("6").ok());
  ASSERT_TRUE(sink.wait_exit("6"));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 190ms);  // SIGTERM was ignored
  EXPECT_TRUE(sink.exits["6"].cancelled);
  EXPECT_EQ(sink.exits["6"].term_signal, SIGKILL);
  for (int i = 0; i < 200 && alive(helper); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(alive(helper));
  EXPECT_FALSE(alive(*pid));
  EXPECT_TRUE(absl::IsNotFound(sup.cancel("6")));
  std::filesystem::remove_all(dir);
}

TEST(WorkerSupervisor, StopsReadingWhileTheSinkIsFullAndLosesNothing) {
  RecordingSink sink;
  sink.accepting = false;
  WorkerSupervisor sup({}, &sink);
  // 1 MiB of output: far beyond a pipe's 64 KiB, so the worker must block.
  ASSERT_TRUE(sup.launch(spec_for("7", "/bin/sh", {"sh", "-c", "head -c 1048576 /dev/zero"})).ok());
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(sink.stdout_of("7").empty());
  EXPECT_FALSE(sink.wait_exit("7", 10ms));  // blocked on a full pipe, not finished
  sink.accepting = true;
  ASSERT_TRUE(sink.wait_exit("7"));
  EXPECT_EQ(sink.stdout_of("7").size(), 1048576u);
  EXPECT_EQ(sink.exits["7"].exit_code, 0);
}

TEST(WorkerSupervisor, ExecFailureIsAnErrorNotACrash) {
  RecordingSink sink;
  WorkerSupervisor sup({}, &sink);
  auto pid = sup.launch(spec_for("8", "/etc/hostname", {"hostname"}));
  ASSERT_FALSE(pid.ok());
  EXPECT_NE(pid.status().message().find("execveat"), std::string::npos) << pid.status();
  auto bad_cwd = spec_for("9", "/bin/true", {"true"});
  bad_cwd.cwd = "/nonexistent/dir";
  auto pid2 = sup.launch(std::move(bad_cwd));
  ASSERT_FALSE(pid2.ok());
  EXPECT_NE(pid2.status().message().find("chdir"), std::string::npos) << pid2.status();
  EXPECT_EQ(sup.running(), 0u);
}

bool cgroup_writable(const char* controller) {
  const std::string dir = std::string("/sys/fs/cgroup/") + controller;
  return ::access(dir.c_str(), W_OK) == 0;
}

TEST(WorkerSupervisor, PidsCgroupCapsForkBombs) {
  if (!cgroup_writable("pids")) {
    GTEST_SKIP() << "cgroup v1 pids controller not writable here";
  }
  RecordingSink sink;
  WorkerSupervisor sup({}, &sink);
  auto spec = spec_for("11", "/bin/sh",
                       {"sh", "-c", "for i in $(seq 40); do sleep 2 & done; wait; echo finished"});
  spec.limits.max_pids = 10;
  ASSERT_TRUE(sup.launch(std::move(spec)).ok());
  ASSERT_TRUE(sink.wait_exit("11", 30s));
  std::lock_guard<std::mutex> lock(sink.mu);
  EXPECT_NE(sink.err["11"].find("fork"), std::string::npos) << sink.err["11"];
}

TEST(WorkerSupervisor, HelpersThatLeftTheProcessGroupDieWithTheJobCgroup) {
  if (!cgroup_writable("pids") || ::access("/usr/bin/setsid", X_OK) != 0) {
    GTEST_SKIP() << "needs a writable pids cgroup and setsid(1)";
  }
  RecordingSink sink;
  WorkerSupervisor sup({}, &sink);
  char tmpl[] = "/tmp/suptestXXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string pidfile = dir + "/escaped";
  // The helper starts its own session: kill(-pgid) cannot reach it. Its
  // stdout goes elsewhere so the worker's pipes close when the worker exits.
  auto spec = spec_for("13", "/bin/sh",
                       {"sh", "-c",
                        "setsid sh -c 'echo $$ > " + pidfile +
                            "; exec sleep 1000' >/dev/null 2>&1 & "
                            "while [ ! -s " +
                            pidfile + " ]; do sleep 0.01; done; exit 0"});
  spec.limits.max_pids = 64;
  ASSERT_TRUE(sup.launch(std::move(spec)).ok());
  ASSERT_TRUE(sink.wait_exit("13"));
  pid_t escaped = 0;
  std::ifstream(pidfile) >> escaped;
  ASSERT_GT(escaped, 0);
  for (int i = 0; i < 200 && alive(escaped); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(alive(escaped)) << "a setsid helper outlived its job";
  std::filesystem::remove_all(dir);
}

TEST(WorkerSupervisor, MemoryCgroupKillsAHog) {
  if (!cgroup_writable("memory")) {
    GTEST_SKIP() << "cgroup v1 memory controller not writable here";
  }
  RecordingSink sink;
  WorkerSupervisor sup({}, &sink);
  // `tail -n 1` keeps a newline-free line in memory: 256 MiB of it.
  auto spec =
      spec_for("12", "/bin/sh", {"sh", "-c", "head -c 268435456 /dev/zero | tail -n 1 >/dev/null"});
  spec.limits.memory_bytes = 32 << 20;
  ASSERT_TRUE(sup.launch(std::move(spec)).ok());
  ASSERT_TRUE(sink.wait_exit("12", 60s));
  // The cgroup's OOM killer SIGKILLs a process of the job: usually tail, which
  // sh reports as 128 + 9, sometimes sh itself (both are charged to the
  // cgroup). Either way the hog was stopped by the limit, not by finishing.
  const WorkerExit& e = sink.exits["12"];
  EXPECT_TRUE(e.exit_code == 128 + SIGKILL || e.term_signal == SIGKILL) << e.message;
}

TEST(WorkerSupervisor, DestructorKillsRunningWorkers) {
  RecordingSink sink;
  pid_t pid = 0;
  {
    WorkerSupervisor sup({}, &sink);
    auto p = sup.launch(spec_for("10", "/bin/sh", {"sh", "-c", "sleep 1000"}));
    ASSERT_TRUE(p.ok());
    pid = *p;
    EXPECT_TRUE(alive(pid));
  }
  EXPECT_FALSE(alive(pid));
}

}  // namespace
}  // namespace skein::node
