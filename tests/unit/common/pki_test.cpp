// The cluster PKI (pki.hpp): CA, CSR signing, identity SANs, checks, and the
// pinned first contact against real gRPC 1.51 servers on 127.0.0.1:0. The
// openssl CLI cross-checks the SPKI hash so the "sha256:" a joining host is
// given can be computed by hand from ca.pem.
#include "skein/common/pki.hpp"

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "skein/v1/node.grpc.pb.h"

namespace skein::pki {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto kDay = std::chrono::hours(24);

// One CA for the whole suite: key generation is cheap, but the CA is what
// the tests have in common.
const CertKey& test_ca() {
  static const CertKey ca = [] {
    auto r = create_ca("skein-test-cluster", kDay * 365);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CertKey{};
  }();
  return ca;
}

CertKey issue_ok(const CertKey& ca, IssueRequest req) {
  auto r = issue_with_new_key(ca, req);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : CertKey{};
}

CertKey coordinator_cert(const CertKey& ca) {
  return issue_ok(ca, {.role = Role::kCoordinator,
                       .name = "coordinator",
                       .dns_sans = {"localhost"},
                       .ip_sans = {"127.0.0.1", "::1"}});
}

std::string shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    out.append(buf, n);
  }
  pclose(p);
  return out;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/skein_pki_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Pki, RoleNamesRoundTrip) {
  for (Role r : {Role::kCoordinator, Role::kNode, Role::kUser, Role::kAdmin}) {
    auto back = parse_role(role_name(r));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, r);
  }
  EXPECT_EQ(role_name(Role::kNode), "node");
  EXPECT_EQ(parse_role("root").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parse_role("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Pki, GeneratedKeyIsPkcs8) {
  auto key = generate_key();
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_THAT(*key, HasSubstr("-----BEGIN PRIVATE KEY-----"));
}

TEST(Pki, CreateCaIsAnUnnamedCaValidFromFiveMinutesAgo) {
  const std::int64_t now = std::time(nullptr);
  auto ca = create_ca("skein-cluster", kDay * 10);
  ASSERT_TRUE(ca.ok()) << ca.status();
  auto info = inspect(ca->cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->is_ca);
  EXPECT_EQ(info->name, "");
  EXPECT_NEAR(info->not_before_unix, now - 300, 5);
  EXPECT_NEAR(info->not_after_unix, now + 10 * 86400, 5);
  EXPECT_EQ(info->spki_sha256.size(), 7u + 64u);
  EXPECT_EQ(info->spki_sha256.rfind("sha256:", 0), 0u);
  EXPECT_TRUE(key_matches_cert(ca->key_pem, ca->cert_pem));
  EXPECT_TRUE(verify_signed_by(ca->cert_pem, ca->cert_pem).ok());
  // What openssl itself makes of it: CA:TRUE with pathlen 0, cert signing.
  TempDir dir;
  std::ofstream(dir.path() + "/ca.pem") << ca->cert_pem;
  std::string text = shell("openssl x509 -noout -text -in " + dir.path() + "/ca.pem");
  EXPECT_THAT(text, HasSubstr("CA:TRUE, pathlen:0"));
  EXPECT_THAT(text, HasSubstr("Certificate Sign, CRL Sign"));
  EXPECT_THAT(text, HasSubstr("Subject: CN = skein-cluster"));

  EXPECT_EQ(create_ca("x", std::chrono::seconds(0)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Pki, CsrIssueInspectRoundTrip) {
  const CertKey& ca = test_ca();
  auto key = generate_key();
  ASSERT_TRUE(key.ok());
  // The CSR's subject is ignored: the name comes from the request.
  auto csr = make_csr(*key, "whatever-the-host-asked-for");
  ASSERT_TRUE(csr.ok()) << csr.status();
  EXPECT_THAT(*csr, HasSubstr("BEGIN CERTIFICATE REQUEST"));
  const std::int64_t now = std::time(nullptr);
  auto issued =
      issue(ca, {.csr_pem = *csr, .role = Role::kNode, .name = "agent-1", .validity = kDay});
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_NEAR(issued->not_after_unix, now + 86400, 5);
  EXPECT_FALSE(issued->serial.empty());
  EXPECT_LE(issued->serial.size(), 34u);
  EXPECT_EQ(issued->serial.find_first_not_of("0123456789abcdef"), std::string::npos);

  auto info = inspect(issued->cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->role, Role::kNode);
  EXPECT_EQ(info->name, "agent-1");
  EXPECT_EQ(info->serial, issued->serial);
  EXPECT_EQ(info->not_after_unix, issued->not_after_unix);
  EXPECT_FALSE(info->is_ca);
  EXPECT_TRUE(info->dns_sans.empty());
  EXPECT_TRUE(info->ip_sans.empty());
  EXPECT_TRUE(key_matches_cert(*key, issued->cert_pem));
  EXPECT_TRUE(verify_signed_by(issued->cert_pem, ca.cert_pem).ok());

  // The openssl CLI agrees with the serial and sees the subject and EKU.
  TempDir dir;
  std::ofstream(dir.path() + "/c.pem") << issued->cert_pem;
  std::string serial = shell("openssl x509 -noout -serial -in " + dir.path() + "/c.pem");
  std::string want_serial = issued->serial;
  for (char& c : want_serial) {
    c = static_cast<char>(toupper(c));
  }
  EXPECT_THAT(serial, HasSubstr(want_serial));
  std::string text = shell("openssl x509 -noout -text -in " + dir.path() + "/c.pem");
  EXPECT_THAT(text, HasSubstr("CN = agent-1, O = skein-node"));
  EXPECT_THAT(text, HasSubstr("URI:skein://node/agent-1"));
  EXPECT_THAT(text, HasSubstr("TLS Web Client Authentication"));
  EXPECT_THAT(text, Not(HasSubstr("TLS Web Server Authentication")));

  // Serials differ between certificates.
  auto again =
      issue(ca, {.csr_pem = *csr, .role = Role::kNode, .name = "agent-1", .validity = kDay});
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->serial, issued->serial);
}

TEST(Pki, CertificateDoesNotOutliveItsCa) {
  auto ca = create_ca("short-ca", kDay);
  ASSERT_TRUE(ca.ok());
  auto key = generate_key();
  auto csr = make_csr(*key, "n");
  auto issued = issue(*ca, {.csr_pem = *csr, .name = "n", .validity = kDay * 30});
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(issued->not_after_unix, inspect(ca->cert_pem)->not_after_unix);
  EXPECT_EQ(inspect(issued->cert_pem)->not_after_unix, issued->not_after_unix);
}

TEST(Pki, CoordinatorCertificateCarriesServerSans) {
  CertKey coord = coordinator_cert(test_ca());
  auto info = inspect(coord.cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->role, Role::kCoordinator);
  EXPECT_EQ(info->name, "coordinator");
  EXPECT_EQ(info->dns_sans, std::vector<std::string>{"localhost"});
  EXPECT_EQ(info->ip_sans, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_TRUE(key_matches_cert(coord.key_pem, coord.cert_pem));
  TempDir dir;
  std::ofstream(dir.path() + "/c.pem") << coord.cert_pem;
  std::string text = shell("openssl x509 -noout -text -in " + dir.path() + "/c.pem");
  EXPECT_THAT(text, HasSubstr("TLS Web Server Authentication, TLS Web Client Authentication"));
  EXPECT_THAT(text, HasSubstr("O = skein-coordinator"));
}

// A CSR whose signature bytes were altered after signing.
std::string tampered_csr() {
  auto key = generate_key();
  auto csr = make_csr(*key, "x");
  std::string pem = *csr;
  size_t end = pem.find("\n-----END");
  size_t line = pem.rfind('\n', end - 1);
  // The last base64 line encodes the tail of the signature; flip one digit
  // well inside it (away from any '=' padding).
  size_t pos = line + 1 + (end - line - 1) / 2;
  pem[pos] = pem[pos] == 'A' ? 'B' : 'A';
  return pem;
}

TEST(Pki, BadCsrsAreInvalidArgument) {
  const CertKey& ca = test_ca();
  auto garbage = issue(ca, {.csr_pem = "not a csr", .name = "agent-1"});
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument) << garbage.status();
  auto tampered = issue(ca, {.csr_pem = tampered_csr(), .name = "agent-1"});
  EXPECT_EQ(tampered.status().code(), absl::StatusCode::kInvalidArgument) << tampered.status();
  EXPECT_THAT(std::string(tampered.status().message()), HasSubstr("signature"));
  // A certificate is not a CSR.
  auto cert = issue(ca, {.csr_pem = ca.cert_pem, .name = "agent-1"});
  EXPECT_EQ(cert.status().code(), absl::StatusCode::kInvalidArgument) << cert.status();
}

TEST(Pki, BadNamesAndSansAreRejected) {
  const CertKey& ca = test_ca();
  auto key = generate_key();
  auto csr = make_csr(*key, "x");
  ASSERT_TRUE(csr.ok());
  for (const std::string& bad :
       {std::string(""), std::string(65, 'a'), std::string("a b"), std::string("x/y"),
        std::string("agent,URI:skein://admin/root"), std::string("\xc3\xa9t\xc3\xa9")}) {
    auto r = issue(ca, {.csr_pem = *csr, .role = Role::kNode, .name = bad});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << "name: " << bad;
    EXPECT_EQ(issue_with_new_key(ca, {.role = Role::kUser, .name = bad}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << "name: " << bad;
  }
  EXPECT_TRUE(issue(ca, {.csr_pem = *csr, .name = std::string(64, 'a')}).ok());
  EXPECT_TRUE(issue(ca, {.csr_pem = *csr, .name = "A.b_c-9"}).ok());
  // Server SANs only on server certificates, and well-formed.
  EXPECT_EQ(issue(ca, {.csr_pem = *csr, .role = Role::kNode, .name = "n", .ip_sans = {"10.0.0.1"}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      issue(ca, {.csr_pem = *csr, .role = Role::kCoordinator, .name = "c", .ip_sans = {"10.0.0"}})
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(issue(ca, {.csr_pem = *csr,
                       .role = Role::kCoordinator,
                       .name = "c",
                       .dns_sans = {"a,URI:skein://admin/x"}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  // Only a CA can sign.
  CertKey leaf = issue_ok(ca, {.role = Role::kAdmin, .name = "root"});
  EXPECT_FALSE(issue(leaf, {.csr_pem = *csr, .name = "n"}).ok());
}

TEST(Pki, VerifySignedByAnotherCaIsPermissionDenied) {
  auto other = create_ca("another-cluster", kDay);
  ASSERT_TRUE(other.ok());
  CertKey cert = issue_ok(test_ca(), {.role = Role::kUser, .name = "alice"});
  absl::Status s = verify_signed_by(cert.cert_pem, other->cert_pem);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_TRUE(verify_signed_by(cert.cert_pem, test_ca().cert_pem).ok());
  // A leaf is not a CA, even for a certificate it "issued" (itself).
  EXPECT_EQ(verify_signed_by(cert.cert_pem, cert.cert_pem).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(verify_signed_by("junk", test_ca().cert_pem).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Pki, ExpiredCertificateIsFailedPrecondition) {
  CertKey cert = issue_ok(
      test_ca(), {.role = Role::kNode, .name = "short-lived", .validity = std::chrono::seconds(1)});
  EXPECT_TRUE(verify_signed_by(cert.cert_pem, test_ca().cert_pem).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  absl::Status s = verify_signed_by(cert.cert_pem, test_ca().cert_pem);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("expired"));
}

TEST(Pki, KeyMatchesCert) {
  CertKey a = issue_ok(test_ca(), {.role = Role::kNode, .name = "a"});
  CertKey b = issue_ok(test_ca(), {.role = Role::kNode, .name = "b"});
  EXPECT_TRUE(key_matches_cert(a.key_pem, a.cert_pem));
  EXPECT_FALSE(key_matches_cert(a.key_pem, b.cert_pem));
  EXPECT_FALSE(key_matches_cert("junk", a.cert_pem));
  EXPECT_FALSE(key_matches_cert(a.key_pem, "junk"));
}

TEST(Pki, SpkiHashIsStableAndMatchesTheOpensslCli) {
  const CertKey& ca = test_ca();
  auto h1 = spki_sha256(ca.cert_pem);
  auto h2 = spki_sha256(ca.cert_pem);
  ASSERT_TRUE(h1.ok()) << h1.status();
  EXPECT_EQ(*h1, *h2);
  EXPECT_EQ(*h1, inspect(ca.cert_pem)->spki_sha256);
  TempDir dir;
  std::ofstream(dir.path() + "/ca.pem") << ca.cert_pem;
  std::string cli = shell("openssl x509 -in " + dir.path() +
                          "/ca.pem -pubkey -noout | openssl pkey -pubin -outform der | sha256sum");
  ASSERT_GE(cli.size(), 64u) << cli;
  EXPECT_EQ(*h1, "sha256:" + cli.substr(0, 64));
  // A leaf has its own key, hence its own hash.
  CertKey leaf = issue_ok(ca, {.role = Role::kNode, .name = "n"});
  EXPECT_NE(*spki_sha256(leaf.cert_pem), *h1);
  EXPECT_EQ(spki_sha256("junk").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Pki, WriteFileAtomicSetsModeAndLeavesNoTemporaries) {
  TempDir dir;
  const std::string key = dir.path() + "/node.key";
  const std::string cert = dir.path() + "/node.pem";
  ASSERT_TRUE(write_file_atomic(key, "secret", 0600).ok());
  ASSERT_TRUE(write_file_atomic(cert, "public", 0644).ok());
  struct stat st {};
  ASSERT_EQ(stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(cert.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(*read_file(key), "secret");
  // Replacing keeps the new mode and content.
  ASSERT_TRUE(write_file_atomic(cert, "newer", 0600).ok());
  ASSERT_EQ(stat(cert.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(*read_file(cert), "newer");
  ASSERT_TRUE(write_file_atomic(cert, "", 0644).ok());
  EXPECT_EQ(*read_file(cert), "");
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++files;
  }
  EXPECT_EQ(files, 2);

  auto missing = read_file(dir.path() + "/nope.pem");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope.pem"));
  EXPECT_FALSE(write_file_atomic(dir.path() + "/no/such/dir/x", "x", 0600).ok());
}

TEST(Pki, PinCaWithoutNetwork) {
  const CertKey& ca = test_ca();
  CertKey coord = coordinator_cert(ca);
  const std::string hash = *spki_sha256(ca.cert_pem);
  std::vector<std::string> chain{coord.cert_pem, ca.cert_pem};
  auto pinned = pin_ca(chain, hash);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(*pinned, ca.cert_pem);
  // Hex is case-insensitive.
  std::string upper = hash;
  for (size_t i = 7; i < upper.size(); ++i) {
    upper[i] = static_cast<char>(toupper(upper[i]));
  }
  EXPECT_TRUE(pin_ca(chain, upper).ok());
  EXPECT_EQ(pin_ca(chain, "sha256:1234").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pin_ca(chain, "md5:" + hash.substr(7)).status().code(),
            absl::StatusCode::kInvalidArgument);

  // The leaf alone gives nothing to pin.
  EXPECT_EQ(pin_ca({coord.cert_pem}, hash).status().code(), absl::StatusCode::kPermissionDenied);
  // The right CA key presented next to a leaf some other CA signed.
  auto other = create_ca("another-cluster", kDay);
  CertKey foreign = coordinator_cert(*other);
  auto mixed = pin_ca({foreign.cert_pem, ca.cert_pem}, hash);
  EXPECT_EQ(mixed.status().code(), absl::StatusCode::kPermissionDenied) << mixed.status();
}

// ---- against real gRPC servers ---------------------------------------------

// Records the identity gRPC saw in the client certificate.
class Gateway final : public v1::NodeGateway::CallbackService {
 public:
  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* ctx,
                                     const v1::RegisterRequest* /*req*/,
                                     v1::RegisterResponse* resp) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto auth = ctx->auth_context();
      if (auth) {
        for (const auto& v : auth->FindPropertyValues("x509_pem_cert")) {
          peer_pems_.emplace_back(v.data(), v.size());
        }
      }
    }
    resp->set_node_id("node-1");
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
  std::vector<std::string> peer_pems() {
    std::lock_guard<std::mutex> lock(mu_);
    return peer_pems_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> peer_pems_;
};

class PkiServerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (server_) {
      server_->Shutdown();
    }
  }

  // `creds` null: plaintext.
  void serve(std::shared_ptr<grpc::ServerCredentials> creds) {
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", creds ? creds : grpc::InsecureServerCredentials(), &port_);
    b.RegisterService(&service_);
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    target_ = "127.0.0.1:" + std::to_string(port_);
  }

  // The coordinator serves its certificate followed by the CA's, which is
  // what lets a joining host find the CA to pin.
  static std::shared_ptr<grpc::ServerCredentials> coordinator_creds(
      const CertKey& ca, const CertKey& coord, grpc_ssl_client_certificate_request_type mode) {
    grpc::SslServerCredentialsOptions opts(mode);
    opts.pem_key_cert_pairs.push_back({coord.key_pem, coord.cert_pem + ca.cert_pem});
    if (mode != GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE) {
      opts.pem_root_certs = ca.cert_pem;
    }
    return grpc::SslServerCredentials(opts);
  }

  Gateway service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string target_;
};

TEST_F(PkiServerTest, FetchAndPinAgainstAGrpcTlsServer) {
  const CertKey& ca = test_ca();
  CertKey coord = coordinator_cert(ca);
  serve(coordinator_creds(ca, coord, GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE));

  auto chain = fetch_peer_chain(target_, std::chrono::seconds(5));
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_GE(chain->size(), 2u);
  EXPECT_EQ(inspect(chain->front())->name, "coordinator");
  EXPECT_EQ(chain->front(), coord.cert_pem);

  const std::string hash = *spki_sha256(ca.cert_pem);
  auto pinned = pin_ca(*chain, hash);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(*pinned, ca.cert_pem);

  auto other = create_ca("another-cluster", kDay);
  const std::string wrong = *spki_sha256(other->cert_pem);
  auto denied = pin_ca(*chain, wrong);
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  std::string msg(denied.status().message());
  EXPECT_THAT(msg, HasSubstr("the coordinator's CA is " + hash));
  EXPECT_THAT(msg, HasSubstr("not the expected " + wrong));
  EXPECT_THAT(msg, HasSubstr("--ca-hash"));

  // "localhost" resolves, and the name is sent as SNI.
  auto by_name = fetch_peer_chain("localhost:" + std::to_string(port_), std::chrono::seconds(5));
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_GE(by_name->size(), 2u);
}

TEST_F(PkiServerTest, PlaintextServerDoesNotSpeakTls) {
  serve(nullptr);
  auto chain = fetch_peer_chain(target_, std::chrono::seconds(5));
  EXPECT_EQ(chain.status().code(), absl::StatusCode::kFailedPrecondition) << chain.status();
  EXPECT_THAT(std::string(chain.status().message()),
              HasSubstr(target_ + " does not speak TLS (a plaintext coordinator?)"));
}

TEST(PkiNetwork, ClosedPortIsUnavailable) {
  // Bind and close to find a port nobody listens on.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  const std::string target = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto chain = fetch_peer_chain(target, std::chrono::seconds(2));
  EXPECT_EQ(chain.status().code(), absl::StatusCode::kUnavailable) << chain.status();
  EXPECT_THAT(std::string(chain.status().message()),
              HasSubstr("cannot reach " + target + ": Connection refused"));
  EXPECT_EQ(fetch_peer_chain("no-port", std::chrono::seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PkiNetwork, SilentListenerTimesOut) {
  // Accepts the connection (the kernel does) but never answers the hello.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string target = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto start = std::chrono::steady_clock::now();
  auto chain = fetch_peer_chain(target, std::chrono::milliseconds(300));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(chain.status().code(), absl::StatusCode::kUnavailable) << chain.status();
  close(fd);
}

// The whole scheme: pin the CA over an unverified handshake, then use it as
// the only trust root of a mutual-TLS channel whose client certificate the
// server reads back as a skein:// identity.
TEST_F(PkiServerTest, PinnedCaCarriesAMutualTlsRpc) {
  const CertKey& ca = test_ca();
  CertKey coord = coordinator_cert(ca);
  serve(coordinator_creds(ca, coord, GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY));

  // First contact works even though the server requires a client
  // certificate the joining host does not have yet.
  auto chain = fetch_peer_chain(target_, std::chrono::seconds(5));
  ASSERT_TRUE(chain.ok()) << chain.status();
  auto pinned = pin_ca(*chain, *spki_sha256(ca.cert_pem));
  ASSERT_TRUE(pinned.ok()) << pinned.status();

  CertKey node = issue_ok(ca, {.role = Role::kNode, .name = "agent-7"});
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = *pinned;
  opts.pem_private_key = node.key_pem;
  opts.pem_cert_chain = node.cert_pem;
  auto channel = grpc::CreateChannel(target_, grpc::SslCredentials(opts));
  auto stub = v1::NodeGateway::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::RegisterResponse resp;
  grpc::Status st = stub->Register(&ctx, v1::RegisterRequest(), &resp);
  ASSERT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();

  auto pems = service_.peer_pems();
  ASSERT_EQ(pems.size(), 1u);
  auto info = inspect(pems.front());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->role, Role::kNode);
  EXPECT_EQ(info->name, "agent-7");

  // A client certificate from another cluster is refused by the server.
  auto other = create_ca("another-cluster", kDay);
  CertKey stranger = issue_ok(*other, {.role = Role::kNode, .name = "agent-7"});
  grpc::SslCredentialsOptions bad = opts;
  bad.pem_private_key = stranger.key_pem;
  bad.pem_cert_chain = stranger.cert_pem;
  auto bad_stub = v1::NodeGateway::NewStub(grpc::CreateChannel(target_, grpc::SslCredentials(bad)));
  grpc::ClientContext bad_ctx;
  bad_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  EXPECT_FALSE(bad_stub->Register(&bad_ctx, v1::RegisterRequest(), &resp).ok());
}

}  // namespace
}  // namespace skein::pki
