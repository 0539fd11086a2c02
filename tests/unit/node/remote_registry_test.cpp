// The task registry and the archives: lookup by name, the
// SKEIN_LIST_REMOTES listing, a duplicate name ending the program at startup,
// the executor's handling of unknown names and corrupt arguments, and the
// serialization helpers on their own.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "remote/executor.hpp"
#include "skein/remote.hpp"

namespace registry_test {
int triple(int x) { return 3 * x; }
void nothing() {}
std::string join(std::vector<std::string> parts, char sep) {
  std::string s;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    s += (i ? std::string(1, sep) : "") + parts[i];
  }
  return s;
}
int other_triple(int x) { return 3 * x; }
SKEIN_REMOTE(triple);
SKEIN_REMOTE(nothing);
SKEIN_REMOTE(join);
}  // namespace registry_test

namespace skein::detail {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv[0] with extra environment, capturing stdout and stderr.
RunResult run_binary(const std::string& path, const std::vector<std::string>& env) {
  int out_pipe[2];
  int err_pipe[2];
  EXPECT_EQ(pipe(out_pipe), 0);
  EXPECT_EQ(pipe(err_pipe), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    close(out_pipe[0]);
    close(err_pipe[0]);
    for (const std::string& kv : env) {
      putenv(const_cast<char*>(kv.c_str()));
    }
    execl(path.c_str(), path.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  RunResult r;
  auto drain = [](int fd, std::string& into) {
    std::array<char, 4096> buf;
    ssize_t n;
    while ((n = read(fd, buf.data(), buf.size())) > 0) {
      into.append(buf.data(), static_cast<std::size_t>(n));
    }
    close(fd);
  };
  drain(out_pipe[0], r.out);
  drain(err_pipe[0], r.err);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string self_exe() {
  std::array<char, 4096> buf{};
  const ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  return std::string(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
}

TEST(RemoteRegistryTest, LookupByName) {
  const RemoteEntry* e = find_remote("triple");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "triple");
  EXPECT_EQ(e->signature, "int (*)(int)");
  EXPECT_EQ(RemoteFn<&registry_test::triple>::entry(), e);
  EXPECT_EQ(find_remote("no_such_function"), nullptr);
  EXPECT_TRUE(has_remote_function("join"));
  EXPECT_FALSE(has_remote_function("other_triple"));
  EXPECT_EQ(RemoteFn<&registry_test::other_triple>::entry(), nullptr);

  std::vector<std::string> names;
  for (const RemoteFunctionInfo& f : remote_functions()) {
    names.push_back(f.name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"join", "nothing", "triple"}));
}

TEST(RemoteRegistryTest, ListRemotesPrintsNamesAndExitsBeforeMain) {
  RunResult r = run_binary(self_exe(), {"SKEIN_LIST_REMOTES=1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "join\nnothing\ntriple\n");  // gtest's main never ran: no banner
  // "0" or empty leaves the program alone (here: gtest lists its tests).
  RunResult normal = run_binary(self_exe(), {"SKEIN_LIST_REMOTES=0", "GTEST_FILTER=-*"});
  EXPECT_EQ(normal.exit_code, 0);
  EXPECT_NE(normal.out.find("[=========="), std::string::npos);
}

TEST(RemoteRegistryTest, DuplicateNameEndsTheProgramAtStartup) {
  // Two translation units each register a function as "collide".
  RunResult r = run_binary(SKEIN_REMOTE_DUP_FIXTURE, {});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("remote function name \"collide\" is registered twice"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.out.find("main ran"), std::string::npos) << r.out;
}

TEST(RemoteRegistryDeathTest, DuplicateRegistrationIsFatal) {
  EXPECT_EXIT(RemoteSlot<&registry_test::other_triple>::register_as("triple"),
              ::testing::ExitedWithCode(2),
              "remote function name \"triple\" is registered twice \\(int \\(\\*\\)\\(int\\) and "
              "int \\(\\*\\)\\(int\\)\\)");
}

TEST(RemoteRegistryTest, ExecutorRunsByName) {
  TaskSpec spec;
  spec.task_id = 9;
  spec.function = "join";
  spec.args = encode(std::make_tuple(std::vector<std::string>{"a", "b", "c"}, '-'));
  TaskOutcome o = execute_task(spec, "node-x");
  EXPECT_EQ(o.error, TaskError::kNone) << o.message;
  EXPECT_EQ(decode<std::string>(o.result), "a-b-c");
  EXPECT_EQ(o.node, "node-x");

  spec.wants_result = false;
  EXPECT_TRUE(execute_task(spec, "node-x").result.empty());

  TaskSpec v;
  v.function = "nothing";
  v.args = encode(std::tuple<>());
  EXPECT_EQ(execute_task(v, "n").error, TaskError::kNone);
}

TEST(RemoteRegistryTest, ExecutorReportsUnknownNamesAndBadArguments) {
  TaskSpec spec;
  spec.function = "not_here";
  spec.args = encode(std::make_tuple(1));
  TaskOutcome o = execute_task(spec, "n");
  EXPECT_EQ(o.error, TaskError::kUnknownFunction);
  EXPECT_NE(o.message.find("\"not_here\""), std::string::npos);

  spec.function = "triple";
  spec.args = "\x01";  // truncated int
  o = execute_task(spec, "n");
  EXPECT_EQ(o.error, TaskError::kBadPayload);
  EXPECT_NE(o.message.find("arguments"), std::string::npos);

  spec.args = encode(std::make_tuple(1, 2));  // one int too many
  o = execute_task(spec, "n");
  EXPECT_EQ(o.error, TaskError::kBadPayload);
  EXPECT_NE(o.message.find("trailing"), std::string::npos) << o.message;
}

TEST(SerializeTest, RoundTripsAndRejectsGarbage) {
  std::map<std::string, std::vector<std::optional<int>>> m{{"a", {1, std::nullopt, 3}}, {"b", {}}};
  EXPECT_EQ(decode<decltype(m)>(encode(m)), m);
  std::string bytes = encode(std::string(1000, 'z'));
  EXPECT_EQ(decode<std::string>(bytes), std::string(1000, 'z'));
  EXPECT_THROW(decode<std::string>(bytes.substr(0, bytes.size() - 1)), PayloadError);
  // A size field far larger than the payload must fail cleanly, not allocate.
  std::string huge = encode(std::uint64_t{1} << 60);
  EXPECT_THROW(decode<std::vector<std::string>>(huge), PayloadError);
}

}  // namespace
}  // namespace skein::detail
