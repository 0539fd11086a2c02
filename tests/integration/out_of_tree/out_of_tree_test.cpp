// The SDK outside this repository (issue #5): install the build tree's SDK
// into a temp prefix with `cmake --install`, build the job project in job/
// (its own project(), find_package(Skein), nothing from the source tree)
// against that prefix only, run the binary directly, then submit it with the
// `skein` CLI to a real one-node cluster and check it succeeded with the
// right output.
//
// The job's sources are copied into the temp directory first, so its build
// sees the install prefix and its own folder and nothing else, as in a user's
// repository; it also lets ccache hit across runs (CCACHE_BASEDIR = the temp
// directory, so every path it hashes is relative).
//
// One test, not several: every step needs the previous one, and a second
// install + configure + build per test process would double the wall time.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "cluster_fixture.hpp"

namespace skein::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// How this build tree was configured (tests/integration/out_of_tree/CMakeLists.txt).
constexpr const char* kCmake = SKEIN_OOT_CMAKE;
constexpr const char* kJobSource = SKEIN_OOT_JOB_SOURCE_DIR;
constexpr const char* kCxxCompiler = SKEIN_OOT_CXX_COMPILER;
constexpr const char* kGenerator = SKEIN_OOT_GENERATOR;
constexpr const char* kMakeProgram = SKEIN_OOT_MAKE_PROGRAM;
constexpr const char* kCcache = SKEIN_OOT_CCACHE;
// SKEIN_STATIC_JOB_DEPS in effect (not a sanitizer build): jobs need libc6 only.
constexpr bool kStaticDeps = SKEIN_OOT_STATIC_DEPS;

// Cold builds on a loaded 2-core machine are slow; these bound a hang, they
// are not the expected times (a warm run takes seconds).
constexpr auto kInstallTimeout = 120s;
constexpr auto kConfigureTimeout = 180s;
constexpr auto kBuildTimeout = 400s;
constexpr auto kRunTimeout = 30s;
constexpr auto kJobTimeout = 60s;

// The job's expected lines for n (see job/main.cpp).
constexpr std::int64_t kN = 2000;
std::vector<std::string> expected_lines() {
  return {
      absl::StrCat("chan: 4 producers sent ", kN, " values, sum ", kN * (kN + 1) / 2, "\n"),
      absl::StrCat("spawn: 10 tasks, sum of squares ", (kN - 1) * kN * (2 * kN - 1) / 6, "\n"),
      "remote error: std::domain_error: negative input -4\n",
      "out-of-tree job done\n",
  };
}

std::string describe(const CliResult& r) {
  return absl::StrCat("exit ", r.exit_code, " after ", r.elapsed.count(), " ms\n--- stdout\n",
                      r.out, "--- stderr\n", r.err);
}

// `env CCACHE_BASEDIR=<tmp> CCACHE_NOHASHDIR=1 argv...`: run_command execs an
// absolute path and inherits this process's environment otherwise.
std::vector<std::string> with_ccache_env(const std::string& base,
                                         const std::vector<std::string>& argv) {
  std::vector<std::string> out = {"/usr/bin/env", "CCACHE_BASEDIR=" + base, "CCACHE_NOHASHDIR=1"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

TEST(OutOfTreeJob, InstalledSdkBuildsAJobThatRunsLocallyAndOnACluster) {
  const std::string tmp = make_temp_dir("skoot");
  ASSERT_FALSE(tmp.empty());
  const std::string prefix = tmp + "/prefix";
  const std::string src = tmp + "/job";
  const std::string build = tmp + "/build";

  // 1. Install the SDK component of this build tree.
  CliResult install = run_command({kCmake, "--install", env_or_die("SKEIN_TEST_BUILD_DIR"),
                                   "--prefix", prefix, "--component", "sdk"},
                                  kInstallTimeout);
  ASSERT_EQ(install.exit_code, 0) << describe(install);
  for (const char* f :
       {"include/skein/skein.hpp", "include/skein/chan.hpp", "include/skein/spawn.hpp",
        "lib/libskein_sdk.a", "lib/cmake/Skein/SkeinConfig.cmake",
        "lib/cmake/Skein/SkeinConfigVersion.cmake", "lib/cmake/Skein/SkeinTargets.cmake"}) {
    EXPECT_TRUE(fs::exists(prefix + "/" + f)) << f << " not installed";
  }

  // 2. Configure and build the job in its own tree against the prefix.
  fs::copy(kJobSource, src, fs::copy_options::recursive);
  std::vector<std::string> configure = {kCmake,
                                        "-S",
                                        src,
                                        "-B",
                                        build,
                                        "-DCMAKE_PREFIX_PATH=" + prefix,
                                        "-DCMAKE_BUILD_TYPE=Release",
                                        std::string("-DCMAKE_CXX_COMPILER=") + kCxxCompiler,
                                        "-DSKEIN_JOB_CHECK_HEADERS=ON"};
  if (*kGenerator != '\0') {
    configure.push_back(std::string("-G") + kGenerator);
    configure.push_back(std::string("-DCMAKE_MAKE_PROGRAM=") + kMakeProgram);
  }
  if (*kCcache != '\0') {
    configure.push_back(std::string("-DCMAKE_CXX_COMPILER_LAUNCHER=") + kCcache);
  }
  CliResult conf = run_command(with_ccache_env(tmp, configure), kConfigureTimeout);
  ASSERT_EQ(conf.exit_code, 0) << describe(conf);
  EXPECT_NE(conf.out.find("installed Skein headers"), std::string::npos) << conf.out;
  CliResult built =
      run_command(with_ccache_env(tmp, {kCmake, "--build", build, "-j2"}), kBuildTimeout);
  ASSERT_EQ(built.exit_code, 0) << describe(built);
  const std::string job = build + "/job";
  ASSERT_TRUE(fs::exists(job));

  // 3. Run it directly: local mode, every task on the in-process scheduler.
  CliResult local = run_command({job, std::to_string(kN)}, kRunTimeout);
  ASSERT_EQ(local.exit_code, 0) << describe(local);
  EXPECT_EQ(local.out.rfind("mode: local\n", 0), 0u) << local.out;
  for (const std::string& line : expected_lines()) {
    EXPECT_NE(local.out.find(line), std::string::npos) << "missing: " << line << local.out;
  }
  EXPECT_NE(local.out.find("placement: task ran in the driver process\n"), std::string::npos)
      << local.out;

  // The installed SDK links its third-party libraries statically into every
  // job (issue 10, cmake/SkeinInstall.cmake): the binary needs libc6 only.
  if (kStaticDeps) {
    CliResult ldd = run_command({"/usr/bin/ldd", job}, kRunTimeout);
    ASSERT_EQ(ldd.exit_code, 0) << describe(ldd);
    for (absl::string_view line : absl::StrSplit(ldd.out, '\n', absl::SkipWhitespace())) {
      line = absl::StripLeadingAsciiWhitespace(line);
      const absl::string_view lib = line.substr(0, line.find(' '));
      EXPECT_TRUE(lib == "linux-vdso.so.1" || lib == "libc.so.6" || lib == "libm.so.6" ||
                  lib == "/lib64/ld-linux-x86-64.so.2")
          << "the job needs " << lib << ", not part of libc6:\n"
          << ldd.out;
    }
  }

  // A job that includes only <skein/sched.hpp> still has the cluster run hook:
  // given a cluster environment with no agent behind it, the hook says so.
  // Without the anchor link option the hook's object file is not linked and
  // the program runs silently as a local one.
  CliResult sched_only =
      run_command({"/usr/bin/env", "SKEIN_AGENT_SOCKET=" + tmp + "/no-agent.sock", "SKEIN_JOB_ID=1",
                   build + "/sched_only"},
                  kRunTimeout);
  EXPECT_EQ(sched_only.exit_code, 0) << describe(sched_only);
  EXPECT_EQ(sched_only.out, "sched-only job got 42\n") << describe(sched_only);
  EXPECT_NE(sched_only.err.find("cannot reach the node agent"), std::string::npos)
      << describe(sched_only);

  // 4. Submit it to a real one-node cluster with the CLI and wait for it.
  Cluster::Options options;
  options.nodes = 1;
  auto cluster = Cluster::start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  CliResult sub = (*cluster)->cli({"submit", "--wait", job, "--", std::to_string(kN)}, kJobTimeout);
  EXPECT_EQ(sub.exit_code, 0) << describe(sub) << (*cluster)->log_tail("node-1");
  const std::string kModePrefix = "mode: cluster job ";
  const auto at = sub.out.find(kModePrefix);
  ASSERT_NE(at, std::string::npos) << describe(sub);
  std::uint64_t id = 0;
  const auto id_at = at + kModePrefix.size();
  ASSERT_TRUE(absl::SimpleAtoi(sub.out.substr(id_at, sub.out.find('\n', id_at) - id_at), &id))
      << sub.out;
  for (const std::string& line : expected_lines()) {
    EXPECT_NE(sub.out.find(line), std::string::npos) << "missing: " << line << sub.out;
  }

  auto info = (*cluster)->wait_terminal(id, kJobTimeout);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->state(), skein::v1::JOB_STATE_SUCCEEDED) << info->DebugString();
  EXPECT_EQ(info->exit_code(), 0);
  // The CLI listed the binary's SKEIN_REMOTE functions at submit time.
  EXPECT_TRUE(info->remote_functions_known()) << info->DebugString();
  EXPECT_EQ(
      std::vector<std::string>(info->remote_functions().begin(), info->remote_functions().end()),
      (std::vector<std::string>{"checked_sqrt", "sum_squares", "worker_pid"}));

  // The coordinator kept the job's output: `skein logs` after the fact.
  CliResult logs = (*cluster)->cli({"logs", std::to_string(id)});
  ASSERT_EQ(logs.exit_code, 0) << describe(logs);
  EXPECT_NE(logs.out.find(absl::StrCat(kModePrefix, id, "\n")), std::string::npos) << logs.out;
  for (const std::string& line : expected_lines()) {
    EXPECT_NE(logs.out.find(line), std::string::npos) << "missing: " << line << logs.out;
  }

  // Tasks were placed by the coordinator and ran in a task worker of the job,
  // not in the driver (the final behaviour of issue #5's dispatch; a job
  // whose spawns fall back to in-process goroutines fails here).
  EXPECT_NE(sub.out.find("placement: task ran in another process\n"), std::string::npos) << sub.out;

  // Where the wall time goes (ccache makes a warm build a few seconds).
  std::fprintf(
      stderr,
      "install %lld ms, configure %lld ms, build %lld ms, local run %lld ms, "
      "submit --wait %lld ms\n",
      static_cast<long long>(install.elapsed.count()), static_cast<long long>(conf.elapsed.count()),
      static_cast<long long>(built.elapsed.count()), static_cast<long long>(local.elapsed.count()),
      static_cast<long long>(sub.elapsed.count()));
  std::fprintf(stderr, "cluster output:\n%s", sub.out.c_str());

  if (!::testing::Test::HasFailure()) {
    fs::remove_all(tmp);
  } else {
    std::fprintf(stderr, "kept %s for inspection\n", tmp.c_str());
  }
}

}  // namespace
}  // namespace skein::testing
