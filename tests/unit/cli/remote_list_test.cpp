// Listing a binary's SKEIN_REMOTE names at submit time: real child processes
// (small shell scripts standing in for job binaries), every failure mode
// bounded and reported.
#include "remote_list.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace skein::cli {
namespace {

class RemoteListTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/skein_remote_list_XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string script(const std::string& name, const std::string& body, bool executable = true) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ::chmod(path.c_str(), executable ? 0700 : 0600);
    return path;
  }

  std::string dir_;
};

TEST_F(RemoteListTest, PrintsNamesOnlyWhenAskedAndTheyComeBackSorted) {
  // Like registry.cpp: the list only with SKEIN_LIST_REMOTES set, and no args.
  std::string bin = script("job", R"(
if [ "$SKEIN_LIST_REMOTES" = "1" ] && [ $# -eq 0 ]; then
  printf 'visit\nfib\n\nfib\nns::merge_sort\nsum<int, 2>\n'
  exit 0
fi
echo "ran main" ; exit 4)");
  auto names = list_remote_functions(bin);
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(*names, (std::vector<std::string>{"fib", "ns::merge_sort", "sum<int, 2>", "visit"}));
}

TEST_F(RemoteListTest, AnEmptyListIsAValidAnswer) {
  auto names = list_remote_functions(script("none", "exit 0"));
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_TRUE(names->empty());
}

TEST_F(RemoteListTest, NonZeroExitAndSignalsAreErrors) {
  auto r = list_remote_functions(script("fails", "echo fib; exit 3"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnknown);
  EXPECT_NE(r.status().message().find("exited with code 3"), std::string::npos)
      << r.status().message();
  auto k = list_remote_functions(script("killed", "kill -9 $$"));
  EXPECT_EQ(k.status().code(), absl::StatusCode::kUnknown);
  EXPECT_NE(k.status().message().find("signal 9"), std::string::npos) << k.status().message();
}

TEST_F(RemoteListTest, TimeoutKillsTheWholeProcessGroupInTime) {
  std::string pidfile = dir_ + "/child.pid";
  // The script forks a child that would outlive it, then hangs.
  std::string bin = script("hangs", "sleep 30 & echo $! > " + pidfile + "; sleep 30");
  auto t0 = std::chrono::steady_clock::now();
  auto r = list_remote_functions(bin, std::chrono::milliseconds(300));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(r.status().message().find("within 300 ms"), std::string::npos);
  EXPECT_LT(took, std::chrono::seconds(3));
  int child = 0;
  std::ifstream(pidfile) >> child;
  ASSERT_GT(child, 0);
  // The forked sleep was in the group: it is gone (or a zombie of init about
  // to be reaped), never still sleeping.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string pid, comm, state;
    gone = !(stat >> pid >> comm >> state) || state == "Z";
    if (!gone) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  EXPECT_TRUE(gone) << "pid " << child << " survived the group kill";
}

TEST_F(RemoteListTest, NotExecutableOrNotRunnableHereIsFailedPrecondition) {
  auto plain = list_remote_functions(script("plain", "exit 0", /*executable=*/false));
  EXPECT_EQ(plain.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(plain.status().message().find("not executable here"), std::string::npos);
  // Executable bits on bytes no kernel loader accepts (like a binary for
  // another architecture).
  std::string junk = dir_ + "/junk";
  std::ofstream(junk) << "\x7f"
                         "ELF garbage that is not an executable";
  ::chmod(junk.c_str(), 0700);
  auto j = list_remote_functions(junk);
  EXPECT_EQ(j.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(j.status().message().find("cannot run"), std::string::npos) << j.status().message();
  EXPECT_EQ(list_remote_functions(dir_ + "/missing").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(RemoteListTest, OutputThatIsNotANameListIsRefused) {
  auto big = list_remote_functions(script("chatty", "yes fib | head -c 3000000"));
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted);
  auto longline = list_remote_functions(script("long", "head -c 5000 /dev/zero | tr '\\0' x"));
  EXPECT_EQ(longline.status().code(), absl::StatusCode::kInvalidArgument);
  // A program without the SDK runs main and prints whatever it prints.
  for (const char* out :
       {"fib(27) = 196418 in 1243.9 ms", "goroutines 1", "-- stats --", "a<b", "x>y"}) {
    auto prose =
        list_remote_functions(script("prose", std::string("echo fib; echo '") + out + "'"));
    EXPECT_EQ(prose.status().code(), absl::StatusCode::kInvalidArgument) << out;
  }
}

}  // namespace
}  // namespace skein::cli
