#include "agent/binary_cache.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "skein/common/sha256.hpp"

namespace skein::node {
namespace {

class BinaryCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bincacheXXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A fetcher serving `data` in 7-byte chunks, counting its calls.
  BinaryCache::Fetcher serve(const std::string& data) {
    return [this, data](const std::string&, const BinaryCache::ChunkSink& sink) {
      ++fetches_;
      for (std::size_t i = 0; i < data.size(); i += 7) {
        if (absl::Status s = sink(std::string_view(data).substr(i, 7)); !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
    };
  }
  std::size_t partial_files() {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      n += e.path().filename().string().starts_with(".partial-") ? 1 : 0;
    }
    return n;
  }

  std::filesystem::path dir_;
  int fetches_ = 0;
};

std::string read_fd(int fd) {
  std::string out;
  char buf[4096];
  off_t off = 0;
  ssize_t n;
  while ((n = ::pread(fd, buf, sizeof(buf), off)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  return out;
}

TEST_F(BinaryCacheTest, FetchesOnceVerifiesAndServesFromCache) {
  const std::string data = "an executable, honestly";
  const std::string sha = sha256_hex(data);
  BinaryCache cache(dir_, 1 << 20);
  auto fd = cache.open_verified(sha, data.size(), serve(data));
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(read_fd(fd->get()), data);
  struct stat st {};
  ASSERT_EQ(::stat(cache.path_of(sha).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0500u);
  EXPECT_NE(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC, 0);
  auto again = cache.open_verified(sha, data.size(), serve(data));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(fetches_, 1);
}

TEST_F(BinaryCacheTest, WrongBytesAreRejectedWithBothHashPrefixesAndNoFileLeft) {
  const std::string claimed = sha256_hex("the real binary");
  const std::string served = "something else entirely";
  BinaryCache cache(dir_, 1 << 20);
  auto fd = cache.open_verified(claimed, served.size(), serve(served));
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.status().message().find(sha256_prefix(claimed)), std::string::npos) << fd.status();
  EXPECT_NE(fd.status().message().find(sha256_prefix(sha256_hex(served))), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(cache.path_of(claimed)));
  EXPECT_EQ(partial_files(), 0u);
}

TEST_F(BinaryCacheTest, SizeMismatchAndOversizeAreRejected) {
  const std::string data(100, 'a');
  const std::string sha = sha256_hex(data);
  BinaryCache cache(dir_, 64);
  auto too_big = cache.open_verified(sha, data.size(), serve(data));
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  BinaryCache roomy(dir_, 1 << 20);
  auto short_size = roomy.open_verified(sha, 50, serve(data));
  EXPECT_FALSE(short_size.ok());
  EXPECT_EQ(partial_files(), 0u);
}

TEST_F(BinaryCacheTest, CorruptedCacheEntryIsFetchedAgain) {
  const std::string data = "good bytes";
  const std::string sha = sha256_hex(data);
  BinaryCache cache(dir_, 1 << 20);
  ASSERT_TRUE(cache.open_verified(sha, data.size(), serve(data)).ok());
  ::chmod(cache.path_of(sha).c_str(), 0600);
  std::ofstream(cache.path_of(sha), std::ios::trunc) << "tampered";
  auto fd = cache.open_verified(sha, data.size(), serve(data));
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(read_fd(fd->get()), data);
  EXPECT_EQ(fetches_, 2);
}

TEST_F(BinaryCacheTest, MalformedHashIsInvalidArgument) {
  BinaryCache cache(dir_, 1 << 20);
  auto fd = cache.open_verified("../../etc/passwd", 1, serve("x"));
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fetches_, 0);
}

TEST_F(BinaryCacheTest, LeftoverPartialFilesAreRemovedAtStartup) {
  std::ofstream(dir_ / ".partial-abc-1-1") << "half";
  BinaryCache cache(dir_, 1 << 20);
  EXPECT_EQ(partial_files(), 0u);
}

}  // namespace
}  // namespace skein::node
