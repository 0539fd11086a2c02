#include "skein/common/token.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "skein/common/sha256.hpp"

namespace skein {
namespace {

class TokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/skein_token_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(TokenTest, GeneratedTokensAre256BitHexAndDistinct) {
  auto a = generate_token();
  auto b = generate_token();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 2 * kTokenBytes);
  EXPECT_TRUE(is_sha256_hex(*a));  // same alphabet and length as a hash
  EXPECT_NE(*a, *b);
}

TEST_F(TokenTest, WriteThenLoadRoundTripsWithMode0600) {
  auto tok = generate_token();
  ASSERT_TRUE(tok.ok());
  std::string path = dir_ + "/token";
  ASSERT_TRUE(write_token_file(path, *tok).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto loaded = load_token(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, *tok);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_F(TokenTest, RejectsFilesOthersCanRead) {
  std::string path = dir_ + "/token";
  ASSERT_TRUE(write_token_file(path, std::string(64, 'a')).ok());
  chmod(path.c_str(), 0644);
  auto loaded = load_token(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kPermissionDenied);
  // The message must point at the fix and must not contain the token.
  EXPECT_NE(loaded.status().message().find("chmod 600"), absl::string_view::npos);
  EXPECT_EQ(loaded.status().message().find(std::string(64, 'a')), absl::string_view::npos);
}

TEST_F(TokenTest, RejectsMissingEmptyAndShortTokens) {
  EXPECT_EQ(load_token(dir_ + "/nope").status().code(), absl::StatusCode::kNotFound);
  std::string path = dir_ + "/short";
  ASSERT_TRUE(write_token_file(path, "abc").ok());
  EXPECT_EQ(load_token(path).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(write_token_file(path, "").ok());
  EXPECT_EQ(load_token(path).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace skein
