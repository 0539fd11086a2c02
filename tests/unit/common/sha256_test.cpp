#include "skein/common/sha256.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace skein {
namespace {

// FIPS 180-2 test vectors.
constexpr char kEmpty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr char kMillionA[] = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), kEmpty);
  EXPECT_EQ(sha256_hex("abc"), kAbc);
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), kMillionA);
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 100000; ++i) {
    data.push_back(static_cast<char>(i * 31 + 7));
  }
  Sha256 h;
  for (size_t pos = 0; pos < data.size(); pos += 4093) {
    h.update(std::string_view(data).substr(pos, 4093));
  }
  EXPECT_EQ(h.final_hex(), sha256_hex(data));
}

TEST(Sha256, FileHashAndMissingFile) {
  char path[] = "/tmp/skein_sha256_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "abc", 3), 3);
  close(fd);
  auto h = sha256_file(path);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(*h, kAbc);
  unlink(path);
  EXPECT_EQ(sha256_file(path).status().code(), absl::StatusCode::kNotFound);
}

TEST(Sha256, HexValidation) {
  EXPECT_TRUE(is_sha256_hex(kAbc));
  EXPECT_FALSE(is_sha256_hex(""));
  EXPECT_FALSE(is_sha256_hex(std::string(kAbc).substr(1)));
  std::string upper(kAbc);
  upper[0] = 'B';
  EXPECT_FALSE(is_sha256_hex(upper));
  std::string bad(kAbc);
  bad[10] = 'g';
  EXPECT_FALSE(is_sha256_hex(bad));
  EXPECT_EQ(sha256_prefix(kAbc), "ba7816bf8f01");
}

}  // namespace
}  // namespace skein
