// The agent's node credentials (agent/bootstrap.hpp) on real files: what a
// person sees when they are missing, expired or inconsistent, and when a
// renewal is due. The join itself runs against a real coordinator in
// tests/integration (SkeinTls) and tests/multihost.
#include "agent/bootstrap.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <thread>

#include "skein/common/pki.hpp"

namespace skein::node {
namespace {

class BootstrapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/skein_bootstrap_XXXXXX";
    dir_ = mkdtemp(tmpl);
    config_.coordinator = "127.0.0.1:1";
    config_.work_dir = dir_;
    config_.node_name = "host-a";
    auto ca = pki::create_ca("test-ca", std::chrono::hours(1));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Node credentials as a join would leave them, valid for `validity`.
  void write_credentials(std::chrono::seconds validity) {
    pki::IssueRequest req;
    req.role = pki::Role::kNode;
    req.name = "host-a";
    req.validity = validity;
    auto issued = pki::issue_with_new_key(ca_, req);
    ASSERT_TRUE(issued.ok()) << issued.status();
    std::filesystem::create_directories(dir_ + "/pki");
    ASSERT_TRUE(pki::write_file_atomic(dir_ + "/pki/ca.crt", ca_.cert_pem, 0644).ok());
    ASSERT_TRUE(pki::write_file_atomic(dir_ + "/pki/node.key", issued->key_pem, 0600).ok());
    ASSERT_TRUE(pki::write_file_atomic(dir_ + "/pki/node.crt", issued->cert_pem, 0644).ok());
  }

  std::string dir_;
  BootstrapConfig config_;
  pki::CertKey ca_;
};

TEST_F(BootstrapTest, StoredCredentialsAreUsedAndNameTheNode) {
  write_credentials(std::chrono::hours(1));
  auto creds = ensure_node_credentials(config_);
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_EQ(creds->name, "host-a");
  EXPECT_EQ(creds->tls.cert_file, dir_ + "/pki/node.crt");
  // Renewal is due two thirds into the hour it was issued for, not counting
  // the backdating that absorbs clock skew.
  const auto due = renewal_time(*creds);
  const auto now = std::chrono::system_clock::now();
  EXPECT_GT(due, now + std::chrono::minutes(38));
  EXPECT_LT(due, now + std::chrono::minutes(41));
}

TEST_F(BootstrapTest, NoCredentialsAndNoTokenSaysHowToJoin) {
  auto creds = ensure_node_credentials(config_);
  ASSERT_EQ(creds.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(creds.status().message().find("skein join 127.0.0.1:1 --token"), std::string::npos)
      << creds.status();
}

TEST_F(BootstrapTest, ExpiredCertificateNamesTheDateAndTheClock) {
  write_credentials(std::chrono::seconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  auto creds = ensure_node_credentials(config_);
  ASSERT_EQ(creds.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string msg(creds.status().message());
  EXPECT_NE(msg.find("expired on"), std::string::npos) << msg;
  EXPECT_NE(msg.find("this host's clock says"), std::string::npos) << msg;
  EXPECT_NE(msg.find("skein token create"), std::string::npos) << msg;
}

TEST_F(BootstrapTest, KeyOfAnotherCertificateIsRefused) {
  write_credentials(std::chrono::hours(1));
  auto other = pki::generate_key();
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(pki::write_file_atomic(dir_ + "/pki/node.key", *other, 0600).ok());
  auto creds = ensure_node_credentials(config_);
  EXPECT_EQ(creds.status().code(), absl::StatusCode::kDataLoss) << creds.status();
}

TEST_F(BootstrapTest, UnreachableCoordinatorIsOneClearLine) {
  ASSERT_TRUE(pki::write_file_atomic(dir_ + "/join.token",
                                     "abcdef.0123456789abcdef0123456789abcdef\n", 0600)
                  .ok());
  config_.bootstrap_token_file = dir_ + "/join.token";
  config_.ca_hash = "sha256:" + std::string(64, '0');
  config_.timeout = std::chrono::milliseconds(2000);
  auto creds = ensure_node_credentials(config_);
  ASSERT_EQ(creds.status().code(), absl::StatusCode::kUnavailable) << creds.status();
  EXPECT_NE(creds.status().message().find("cannot reach 127.0.0.1:1"), std::string::npos)
      << creds.status();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/pki/node.key"));
}

}  // namespace
}  // namespace skein::node
