#include "agent/job_log.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

namespace skein::node {
namespace {

std::filesystem::path temp_dir() {
  char tmpl[] = "/tmp/joblogXXXXXX";
  return ::mkdtemp(tmpl);
}

TEST(JobLog, DiskUseStaysUnderTwiceTheCapHoweverMuchIsWritten) {
  const auto dir = temp_dir();
  constexpr std::uint64_t kCap = 64 * 1024;
  JobLog log(dir / "7", kCap);
  const std::string line(1000, 'x');
  for (int i = 0; i < 1000; ++i) {  // ~1 MB, 15x the cap
    ASSERT_TRUE(log.append(line).ok());
  }
  EXPECT_EQ(log.total_written(), 1000u * 1000u);
  std::uintmax_t on_disk = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir / "7")) {
    on_disk += e.file_size();
  }
  EXPECT_LE(on_disk, 2 * kCap);
  EXPECT_EQ(std::filesystem::file_size(dir / "7" / "output.log.1"), kCap);
  std::filesystem::remove_all(dir);
}

TEST(JobLog, KeepsEveryByteBelowTheCap) {
  const auto dir = temp_dir();
  JobLog log(dir, 1 << 20);
  ASSERT_TRUE(log.append("hello ").ok());
  ASSERT_TRUE(log.append("world\n").ok());
  EXPECT_EQ(std::filesystem::file_size(dir / "output.log"), 12u);
  EXPECT_FALSE(std::filesystem::exists(dir / "output.log.1"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace skein::node
