// Token auth over a real gRPC server on 127.0.0.1:0: the processor gates every
// method (implemented or not) before any handler runs.
#include "skein/common/auth.hpp"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

#include "skein/v1/node.grpc.pb.h"

namespace skein {
namespace {

constexpr char kToken[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
constexpr char kOtherToken[] = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

// Only Register is implemented; Connect/FetchBinary stay UNIMPLEMENTED, which
// must still be hidden behind UNAUTHENTICATED for unauthenticated callers.
class RegisterOnly final : public v1::NodeGateway::CallbackService {
 public:
  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* ctx,
                                     const v1::RegisterRequest* /*req*/,
                                     v1::RegisterResponse* resp) override {
    ++calls;
    saw_token_in_handler = ctx->client_metadata().count(kAuthMetadataKey) > 0;
    if (auto p = authenticator->principal(*ctx); p.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      principal = absl::StrCat(std::string(principal_role_name(p->role)), ":", p->name);
    }
    auto* r = ctx->DefaultReactor();
    // Only nodes (and admins) may register: authorize as a service does.
    if (auto st = authenticator->authorize(*ctx, {Principal::Role::kNode}, "Register"); !st.ok()) {
      r->Finish(st);
      return r;
    }
    resp->set_node_id("node-1");
    r->Finish(grpc::Status::OK);
    return r;
  }
  std::atomic<int> calls{0};
  std::atomic<bool> saw_token_in_handler{false};
  std::mutex mu;
  std::string principal;                         // GUARDED_BY(mu): "<role>:<name>" of the last call
  const Authenticator* authenticator = nullptr;  // set before the server starts
};

// Bootstrap tokens as the coordinator's directory would answer.
class FakeDirectory : public CredentialDirectory {
 public:
  std::optional<std::string> bootstrap_token_id(std::string_view token) const override {
    if (token == "abc123.0123456789abcdef") {
      return "abc123";
    }
    return std::nullopt;
  }
  bool certificate_revoked(std::string_view) const override { return false; }
};

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sa = make_server_auth(AuthConfig{kToken, {}}, "127.0.0.1:0", &directory_);
    ASSERT_TRUE(sa.ok()) << sa.status();
    service_.authenticator = sa->authenticator.get();
    authenticator_ = sa->authenticator;
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", sa->credentials, &port_);
    b.RegisterService(&service_);
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
    target_ = "127.0.0.1:" + std::to_string(port_);
  }
  void TearDown() override {
    if (server_) {
      server_->Shutdown();
    }
  }

  grpc::Status call_register(std::shared_ptr<grpc::Channel> ch) {
    auto stub = v1::NodeGateway::NewStub(ch);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::RegisterRequest req;
    v1::RegisterResponse resp;
    return stub->Register(&ctx, req, &resp);
  }

  grpc::Status call_fetch(std::shared_ptr<grpc::Channel> ch) {
    auto stub = v1::NodeGateway::NewStub(ch);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::FetchBinaryRequest req;
    auto reader = stub->FetchBinary(&ctx, req);
    v1::BinaryChunk chunk;
    while (reader->Read(&chunk)) {
    }
    return reader->Finish();
  }

  FakeDirectory directory_;
  std::shared_ptr<const Authenticator> authenticator_;
  RegisterOnly service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string target_;
};

// The token stays in the call's metadata: the handler identifies the caller
// from it again (nothing is written to the connection-wide AuthContext).
TEST_F(AuthTest, RightTokenReachesTheHandlerWhichIdentifiesTheCallerFromIt) {
  auto ch = make_channel(target_, AuthConfig{kToken, {}});
  ASSERT_TRUE(ch.ok()) << ch.status();
  EXPECT_TRUE(call_register(*ch).ok());
  EXPECT_EQ(service_.calls.load(), 1);
  EXPECT_TRUE(service_.saw_token_in_handler.load());
  {
    std::lock_guard<std::mutex> lock(service_.mu);
    EXPECT_EQ(service_.principal, "admin:admin-token");
  }
  // An unimplemented method behind a valid token is UNIMPLEMENTED, not 16.
  EXPECT_EQ(call_fetch(*ch).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(AuthTest, NoTokenIsUnauthenticatedOnEveryMethod) {
  auto ch = grpc::CreateChannel(target_, grpc::experimental::LocalCredentials(LOCAL_TCP));
  grpc::Status s = call_register(ch);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_EQ(call_fetch(ch).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(service_.calls.load(), 0);
}

TEST_F(AuthTest, PlaintextClientWithoutTokenIsUnauthenticated) {
  auto ch = grpc::CreateChannel(target_, grpc::InsecureChannelCredentials());
  EXPECT_EQ(call_register(ch).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(service_.calls.load(), 0);
}

TEST_F(AuthTest, WrongAndTruncatedTokensAreUnauthenticatedWithAGenericMessage) {
  for (std::string bad :
       {std::string(kOtherToken), std::string(kToken).substr(0, 63), std::string(kToken) + "0"}) {
    auto ch = make_channel(target_, AuthConfig{bad, {}});
    ASSERT_TRUE(ch.ok());
    grpc::Status s = call_register(*ch);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(s.error_message().find(bad), std::string::npos) << "token echoed in the error";
    EXPECT_EQ(s.error_message().find(kToken), std::string::npos);
  }
  EXPECT_EQ(service_.calls.load(), 0);
}

TEST(TokenVerifier, ExactBearerMatchOnly) {
  TokenVerifier v(kToken);
  EXPECT_TRUE(v.matches(std::string("Bearer ") + kToken));
  EXPECT_FALSE(v.matches(kToken));
  EXPECT_FALSE(v.matches(std::string("bearer ") + kToken));
  EXPECT_FALSE(v.matches(std::string("Bearer ") + kOtherToken));
  EXPECT_FALSE(v.matches(""));
}

// Many concurrent calls on one connection: gRPC 1.51 hands every call of a
// connection the same AuthContext, so authentication must not write to it
// (it did, and a reader hit "assertion failed: prop->name != nullptr" in
// about 1 run in 16 of a service test).
TEST_F(AuthTest, ConcurrentCallsOnOneConnectionEachSeeTheirOwnPrincipal) {
  auto admin = make_channel(target_, AuthConfig{kToken, {}});
  ASSERT_TRUE(admin.ok());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto stub = v1::NodeGateway::NewStub(*admin);
      for (int i = 0; i < 200; ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        v1::RegisterResponse resp;
        ok.fetch_add(stub->Register(&ctx, v1::RegisterRequest(), &resp).ok() ? 1 : 0);
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(ok.load(), 8 * 200);
  std::lock_guard<std::mutex> lock(service_.mu);
  EXPECT_EQ(service_.principal, "admin:admin-token");
}

// A bootstrap token authenticates (the processor lets it through) but
// authorizes nothing except what a service allows it: here Register refuses.
TEST_F(AuthTest, BootstrapTokenIsItsOwnPrincipalWithoutNodeRights) {
  auto ch = make_channel(target_, AuthConfig{"abc123.0123456789abcdef", {}});
  ASSERT_TRUE(ch.ok());
  grpc::Status s = call_register(*ch);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("bootstrap 'abc123'"), std::string::npos) << s.error_message();
  {
    std::lock_guard<std::mutex> lock(service_.mu);
    EXPECT_EQ(service_.principal, "bootstrap:abc123");
  }
  auto wrong = make_channel(target_, AuthConfig{"abc123.0123456789abcdee", {}});
  EXPECT_EQ(call_register(*wrong).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// There is no plaintext mode off loopback, on either side.
TEST(ServerAuth, BindPolicyRefusesPlaintextOffLoopback) {
  EXPECT_EQ(make_server_auth(AuthConfig{kToken, {}}, "0.0.0.0:0").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(make_server_auth(AuthConfig{"", {}}, "127.0.0.1:0").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto refused = make_channel("10.1.2.3:7000", AuthConfig{kToken, {}});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(refused.status().message().find("TLS"), absl::string_view::npos);
  EXPECT_EQ(make_channel("127.0.0.1:7000", AuthConfig{"", {}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace skein
