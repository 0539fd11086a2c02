#include "binary_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "skein/common/sha256.hpp"
#include "temp_dir.hpp"

namespace skein::coordinator {
namespace {

namespace fs = std::filesystem;

std::string blob(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>((i * 131 + static_cast<size_t>(seed)) & 0xff);
  }
  return s;
}

size_t files_in(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    n += e.is_regular_file() ? 1 : 0;
  }
  return n;
}

class BinaryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = BinaryStore::open(dir_.path(), 1 << 20);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  absl::StatusOr<PutResult> put(const std::string& data, const std::string& sha, uint64_t size,
                                size_t chunk = 4096) {
    auto up = store_->begin_upload(sha, size);
    if (!up.ok()) {
      return up.status();
    }
    for (size_t pos = 0; pos < data.size(); pos += chunk) {
      if (auto st = (*up)->append(std::string_view(data).substr(pos, chunk)); !st.ok()) {
        return st;
      }
    }
    return (*up)->commit();
  }
  std::string partial_dir() const { return dir_.path() + "/binaries/.partial"; }

  skein::testing::TempDir dir_;
  std::unique_ptr<BinaryStore> store_;
};

TEST_F(BinaryStoreTest, StoresUnderItsHashReadOnly) {
  std::string data = blob(100000, 1);
  std::string sha = sha256_hex(data);
  auto r = put(data, sha, data.size());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sha256, sha);
  EXPECT_FALSE(r->already_stored);
  EXPECT_TRUE(store_->contains(sha));
  EXPECT_EQ(*store_->size_of(sha), data.size());
  EXPECT_EQ(*sha256_file(store_->path_of(sha)), sha);
  struct stat st;
  ASSERT_EQ(stat(store_->path_of(sha).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0500);
  EXPECT_EQ(files_in(partial_dir()), 0u);
  auto again = put(data, sha, data.size());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_stored);
}

TEST_F(BinaryStoreTest, CorruptedUploadIsRejectedWithBothHashPrefixesAndLeavesNothing) {
  std::string data = blob(50000, 2);
  std::string sha = sha256_hex(data);
  std::string corrupted = data;
  corrupted[12345] ^= 0x01;  // one flipped bit
  auto r = put(corrupted, sha, corrupted.size());
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  std::string msg(r.status().message());
  EXPECT_NE(msg.find("expected " + sha256_prefix(sha)), std::string::npos) << msg;
  EXPECT_NE(msg.find("got " + sha256_prefix(sha256_hex(corrupted))), std::string::npos) << msg;
  EXPECT_FALSE(store_->contains(sha));
  EXPECT_EQ(files_in(partial_dir()), 0u) << "partial upload must be removed";
  EXPECT_EQ(files_in(dir_.path() + "/binaries"), 0u);
}

TEST_F(BinaryStoreTest, BadUploadsNeverTouchAStoredBinary) {
  std::string data = blob(3000, 3);
  std::string sha = sha256_hex(data);
  ASSERT_TRUE(put(data, sha, data.size()).ok());
  // Same hash announced, different bytes: rejected, original intact.
  EXPECT_FALSE(put(blob(3000, 4), sha, 3000).ok());
  EXPECT_EQ(*sha256_file(store_->path_of(sha)), sha);
  EXPECT_EQ(files_in(partial_dir()), 0u);
}

TEST_F(BinaryStoreTest, ValidatesHashSizeAndCap) {
  EXPECT_EQ(store_->begin_upload("abc", 10).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->begin_upload(std::string(64, 'a'), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->begin_upload(std::string(64, 'a'), (1 << 20) + 1).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store_->size_of(std::string(64, 'b')).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(files_in(partial_dir()), 0u);
}

TEST_F(BinaryStoreTest, ShortAndOverlongUploadsAreRejected) {
  std::string data = blob(10000, 5);
  std::string sha = sha256_hex(data);
  auto shortr = put(data.substr(0, 9999), sha, data.size());
  EXPECT_EQ(shortr.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(shortr.status().message().find("9999 of 10000"), absl::string_view::npos);
  auto longr = put(data + "x", sha, data.size());
  EXPECT_EQ(longr.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(files_in(partial_dir()), 0u);
}

TEST_F(BinaryStoreTest, AbandonedUploadIsRemovedAndStrayPartialsAreClearedOnOpen) {
  {
    auto up = store_->begin_upload(std::string(64, 'c'), 100);
    ASSERT_TRUE(up.ok());
    ASSERT_TRUE((*up)->append("0123456789").ok());
    EXPECT_EQ(files_in(partial_dir()), 1u);
  }  // client went away: the Upload is destroyed uncommitted
  EXPECT_EQ(files_in(partial_dir()), 0u);
  std::ofstream(partial_dir() + "/left-by-crash.part") << "junk";
  auto reopened = BinaryStore::open(dir_.path(), 1 << 20);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(files_in(partial_dir()), 0u);
}

}  // namespace
}  // namespace skein::coordinator
