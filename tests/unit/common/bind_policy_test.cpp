#include "skein/common/bind_policy.hpp"

#include <gtest/gtest.h>

namespace skein {
namespace {

TEST(BindPolicy, LoopbackHosts) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.1.2.3"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("::"));
  EXPECT_FALSE(is_loopback_host("10.0.0.1"));
  EXPECT_FALSE(is_loopback_host("example.com"));
}

TEST(BindPolicy, SplitHostPort) {
  auto a = split_host_port("127.0.0.1:7000");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 7000);
  auto b = split_host_port("[::1]:0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 0);
  for (const char* bad :
       {"", "127.0.0.1", ":80", "host:", "host:99999", "host:12x", "::1:80", "[::1]80"}) {
    EXPECT_EQ(split_host_port(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(BindPolicy, NonLoopbackNeedsTls) {
  EXPECT_TRUE(check_bind_policy("127.0.0.1:0", false).ok());
  EXPECT_TRUE(check_bind_policy("[::1]:0", false).ok());
  EXPECT_TRUE(check_bind_policy("unix:/tmp/x.sock", false).ok());
  auto refused = check_bind_policy("0.0.0.0:7000", false);
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(refused.message().find("mutual TLS"), absl::string_view::npos);
  EXPECT_TRUE(check_bind_policy("0.0.0.0:7000", /*tls=*/true).ok());
  EXPECT_EQ(check_bind_policy("nonsense", true).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace skein
