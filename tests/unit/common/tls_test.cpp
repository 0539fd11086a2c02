// TLS and mTLS transports of auth.hpp over a real server on 127.0.0.1:0,
// with a throw-away CA made by the openssl CLI. The token is still required
// on top of TLS.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>

#include "skein/common/auth.hpp"
#include "skein/v1/node.grpc.pb.h"

namespace skein {
namespace {

constexpr char kToken[] = "abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd";

class Echo final : public v1::NodeGateway::CallbackService {
 public:
  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* ctx,
                                     const v1::RegisterRequest* /*req*/,
                                     v1::RegisterResponse* resp) override {
    resp->set_node_id("node-1");
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
};

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/skein_tls_XXXXXX";
    dir_ = mkdtemp(tmpl);
    const std::string d = dir_;
    // CA, then a server cert for 127.0.0.1 and a client cert, both signed by it.
    std::string script =
        "set -e; cd " + d +
        "; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-keyout ca.key -out ca.pem -days 1 -subj /CN=skein-test-ca 2>/dev/null"
        "; for who in server client; do "
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-keyout $who.key -out $who.csr -subj /CN=$who "
        "-addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null; "
        "openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
        "-copy_extensions copy -out $who.pem 2>/dev/null; done";
    ok_ = std::system(("bash -c '" + script + "'").c_str()) == 0;
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  void SetUp() override {
    if (!ok_) {
      GTEST_SKIP() << "openssl CLI could not make test certificates";
    }
  }
  void TearDown() override {
    if (server_) {
      server_->Shutdown();
    }
  }

  void serve(bool require_client_cert) {
    TlsFiles tls{dir_ + "/server.pem", dir_ + "/server.key",
                 require_client_cert ? dir_ + "/ca.pem" : ""};
    auto sa = make_server_auth(AuthConfig{kToken, tls}, "127.0.0.1:0");
    ASSERT_TRUE(sa.ok()) << sa.status();
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", sa->credentials, &port_);
    b.RegisterService(&service_);
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    target_ = "127.0.0.1:" + std::to_string(port_);
  }

  grpc::StatusCode call(std::shared_ptr<grpc::Channel> ch) {
    auto stub = v1::NodeGateway::NewStub(ch);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::RegisterResponse resp;
    return stub->Register(&ctx, v1::RegisterRequest(), &resp).error_code();
  }

  static inline std::string dir_;
  static inline bool ok_ = false;
  Echo service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string target_;
};

TEST_F(TlsTest, TlsPlusTokenIsRequired) {
  serve(/*require_client_cert=*/false);
  auto good = make_channel(target_, AuthConfig{kToken, {"", "", dir_ + "/ca.pem"}});
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(call(*good), grpc::StatusCode::OK);
  auto wrong = make_channel(target_, AuthConfig{std::string(64, '0'), {"", "", dir_ + "/ca.pem"}});
  EXPECT_EQ(call(*wrong), grpc::StatusCode::UNAUTHENTICATED);
  // A plaintext client cannot even complete the handshake.
  EXPECT_EQ(call(grpc::CreateChannel(target_, grpc::InsecureChannelCredentials())),
            grpc::StatusCode::UNAVAILABLE);
}

// With the cluster CA configured, client certificates are requested and
// verified but not required (a joining host has none): a client without one
// still needs a valid token, and a verified certificate that names no Skein
// principal is refused even with the right token (the certificate decides).
TEST_F(TlsTest, ClientCertificatesAreVerifiedAndMustNameAPrincipal) {
  serve(/*require_client_cert=*/true);
  auto no_cert = make_channel(target_, AuthConfig{kToken, {"", "", dir_ + "/ca.pem"}});
  ASSERT_TRUE(no_cert.ok());
  EXPECT_EQ(call(*no_cert), grpc::StatusCode::OK);
  auto no_cert_wrong =
      make_channel(target_, AuthConfig{std::string(64, '1'), {"", "", dir_ + "/ca.pem"}});
  ASSERT_TRUE(no_cert_wrong.ok());
  EXPECT_EQ(call(*no_cert_wrong), grpc::StatusCode::UNAUTHENTICATED);
  auto foreign_cert = make_channel(
      target_, AuthConfig{kToken, {dir_ + "/client.pem", dir_ + "/client.key", dir_ + "/ca.pem"}});
  ASSERT_TRUE(foreign_cert.ok());
  EXPECT_EQ(call(*foreign_cert), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(TlsConfig, MissingFilesAreReadableErrors) {
  auto sa = make_server_auth(AuthConfig{kToken, {"/nonexistent.pem", "/nonexistent.key", ""}},
                             "0.0.0.0:0");
  EXPECT_EQ(sa.status().code(), absl::StatusCode::kNotFound);
  auto half = make_server_auth(AuthConfig{kToken, {"/x.pem", "", ""}}, "127.0.0.1:0");
  EXPECT_EQ(half.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace skein
