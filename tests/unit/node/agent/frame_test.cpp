#include "wire/frame.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <string>

#include "wire/unique_fd.hpp"

namespace skein::node {
namespace {

TEST(FrameReader, ReassemblesFramesFedOneByteAtATime) {
  const std::string stream = encode_frame("hello") + encode_frame("") + encode_frame("world!");
  FrameReader r;
  std::vector<std::string> got;
  for (char c : stream) {
    r.feed(std::string_view(&c, 1));
    while (true) {
      auto f = r.next();
      ASSERT_TRUE(f.ok());
      if (!f->has_value()) {
        break;
      }
      got.push_back(**f);
    }
  }
  EXPECT_EQ(got, (std::vector<std::string>{"hello", "", "world!"}));
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(FrameReader, HeaderIsBigEndianLength) {
  const std::string f = encode_frame(std::string(258, 'x'));
  ASSERT_EQ(f.size(), 4u + 258u);
  EXPECT_EQ(static_cast<unsigned char>(f[0]), 0);
  EXPECT_EQ(static_cast<unsigned char>(f[1]), 0);
  EXPECT_EQ(static_cast<unsigned char>(f[2]), 1);
  EXPECT_EQ(static_cast<unsigned char>(f[3]), 2);
}

TEST(FrameReader, RejectsOversizedFrameBeforeBufferingIt) {
  FrameReader r;
  const unsigned char header[4] = {0x7f, 0xff, 0xff, 0xff};  // ~2 GiB announced
  r.feed(std::string_view(reinterpret_cast<const char*>(header), 4));
  auto f = r.next();
  EXPECT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Frame, BlockingWriteAndReadOverASocketPair) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  ASSERT_TRUE(write_frame(a.get(), "one").ok());
  ASSERT_TRUE(write_frame(a.get(), std::string(100000, 'z')).ok());
  a.reset();
  auto one = read_frame(b.get());
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, "one");
  auto two = read_frame(b.get());
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->size(), 100000u);
  auto end = read_frame(b.get());
  EXPECT_TRUE(absl::IsNotFound(end.status())) << end.status();
}

}  // namespace
}  // namespace skein::node
