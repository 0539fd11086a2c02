// The cluster PKI on the OpenSSL 3 C API (the model is in pki.hpp).
//
// Every OpenSSL object lives in a std::unique_ptr with its free function as
// the deleter, so each early `return` of an error frees what was built so far.
// OpenSSL reports failures on a thread-local error queue; ssl_error() drains
// it into the message so a stale entry never leaks into a later, unrelated
// error on the same thread.
//
// Identity SANs are built as GENERAL_NAMES objects rather than through the
// "URI:...,DNS:..." config-string parser: a DNS name or principal name
// containing a comma would otherwise inject a SAN of the caller's choosing.
//
// Choices beyond the header:
//   - issue() refuses DNS/IP SANs for non-coordinator roles (they would be
//     useless without serverAuth) and clamps notAfter to the CA's notAfter;
//   - fetch_peer_chain's timeout covers connect and handshake, not name
//     resolution (getaddrinfo has no deadline). Against a server that
//     requires client certificates the chain is still fetched under TLS 1.3,
//     where the server's certificate arrives before it asks for ours; a
//     TLS 1.2-only server would fail the handshake instead.
#include "skein/common/pki.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace skein::pki {
namespace {

// Debian's Abseil has its own string_view, not std::string_view, so
// std::string_view values cross into absl calls through this.
absl::string_view av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};

using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using NamePtr = std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using Asn1IntPtr = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER_free>>;
using GenNamePtr = std::unique_ptr<GENERAL_NAME, Deleter<GENERAL_NAME_free>>;
using GenNamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using OctetPtr = std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING_free>>;
using Ia5Ptr = std::unique_ptr<ASN1_IA5STRING, Deleter<ASN1_IA5STRING_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL_free>>;
using OsslCharPtr = std::unique_ptr<char, Deleter<[](char* p) { OPENSSL_free(p); }>>;

constexpr char kUriScheme[] = "skein://";

// Drains OpenSSL's thread-local error queue into one line ("" when empty).
std::string ssl_error() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    absl::StrAppend(&out, out.empty() ? "" : "; ", buf);
  }
  return out;
}

absl::Status ssl_status(absl::StatusCode code, std::string_view what) {
  std::string detail = ssl_error();
  return absl::Status(code,
                      detail.empty() ? std::string(what) : absl::StrCat(av(what), ": ", detail));
}

absl::Status internal(std::string_view what) {
  return ssl_status(absl::StatusCode::kInternal, what);
}

BioPtr mem_bio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

absl::StatusOr<X509Ptr> parse_cert(std::string_view pem) {
  BioPtr bio = mem_bio(pem);
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    return ssl_status(absl::StatusCode::kInvalidArgument, "cannot parse the PEM certificate");
  }
  return cert;
}

absl::StatusOr<PkeyPtr> parse_key(std::string_view pem) {
  BioPtr bio = mem_bio(pem);
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) {
    return ssl_status(absl::StatusCode::kInvalidArgument, "cannot parse the PEM private key");
  }
  return key;
}

absl::StatusOr<std::string> cert_to_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return internal("cannot encode the certificate as PEM");
  }
  return bio_string(bio.get());
}

// Lowercase hex of a certificate serial, the form revocation lists key on.
std::string serial_hex(const ASN1_INTEGER* serial) {
  BnPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) {
    ssl_error();
    return "";
  }
  OsslCharPtr hex(BN_bn2hex(bn.get()));
  return hex ? absl::AsciiStrToLower(hex.get()) : "";
}

// 128 random bits as a non-negative INTEGER (DER adds a 0x00 octet when the
// top bit is set, so all 128 bits stay random and the value stays positive).
absl::StatusOr<Asn1IntPtr> random_serial() {
  unsigned char bytes[16];
  do {
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
      return internal("RAND_bytes failed");
    }
  } while (std::all_of(std::begin(bytes), std::end(bytes), [](unsigned char b) { return b == 0; }));
  BnPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  Asn1IntPtr serial(bn ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
  if (!serial) {
    return internal("cannot encode the serial number");
  }
  return serial;
}

std::int64_t to_unix(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) {
    ssl_error();
    return 0;
  }
  return static_cast<std::int64_t>(timegm(&tm));
}

// "2026-05-01T12:00:00Z", for messages.
std::string iso_time(std::int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

absl::Status add_name_entry(X509_NAME* name, const char* field, std::string_view value) {
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return ssl_status(absl::StatusCode::kInvalidArgument,
                      absl::StrCat("cannot set subject ", field, "=", av(value)));
  }
  return absl::OkStatus();
}

// Adds an extension given in openssl.cnf syntax; `issuer` and `subject` feed
// the key identifier extensions.
absl::Status add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return internal(absl::StrCat("cannot add extension ", OBJ_nid2sn(nid), " = ", value));
  }
  return absl::OkStatus();
}

// Valid from kBackdateSeconds ago for `validity`, but never past `issuer`'s
// own end: a certificate cannot outlive the CA that vouches for it, and a
// date that says otherwise would only mislead whoever plans a renewal.
absl::Status set_validity(X509* cert, std::chrono::seconds validity, X509* issuer) {
  if (X509_gmtime_adj(X509_getm_notBefore(cert), -static_cast<long>(kBackdateSeconds)) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(validity.count())) == nullptr) {
    return internal("cannot set the validity period");
  }
  if (issuer != nullptr &&
      ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(issuer)) > 0 &&
      X509_set1_notAfter(cert, X509_get0_notAfter(issuer)) != 1) {
    return internal("cannot set the validity period");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> hash_spki(X509* cert) {
  EVP_PKEY* pub = X509_get0_pubkey(cert);
  if (pub == nullptr) {
    return ssl_status(absl::StatusCode::kInvalidArgument,
                      "the certificate's public key cannot be decoded");
  }
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(pub, &der);
  if (len <= 0) {
    return internal("cannot encode the public key");
  }
  OsslCharPtr der_owner(reinterpret_cast<char*>(der));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(der, static_cast<size_t>(len), digest, &digest_len, EVP_sha256(), nullptr) != 1) {
    return internal("SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < digest_len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

bool cert_is_ca(X509* cert) {
  // Computes the cached extension flags; basicConstraints CA:TRUE sets EXFLAG_CA.
  return (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
}

bool valid_principal_name(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return false;
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

absl::Status check_name(std::string_view name) {
  if (!valid_principal_name(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad name \"", av(name), "\": want 1 to 64 characters of [A-Za-z0-9._-]"));
  }
  return absl::OkStatus();
}

// Hostnames, optionally with one leading "*." wildcard label.
bool valid_dns_name(std::string_view name) {
  std::string_view rest = absl::StartsWith(av(name), "*.") ? name.substr(2) : name;
  if (rest.empty() || name.size() > 253) {
    return false;
  }
  for (char c : rest) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
      return false;
    }
  }
  return true;
}

absl::Status push_ia5_name(GENERAL_NAMES* names, int type, std::string_view value) {
  GenNamePtr gn(GENERAL_NAME_new());
  Ia5Ptr str(ASN1_IA5STRING_new());
  if (!gn || !str ||
      ASN1_STRING_set(str.get(), value.data(), static_cast<int>(value.size())) != 1) {
    return internal("out of memory building a SAN");
  }
  GENERAL_NAME_set0_value(gn.get(), type, str.release());
  if (sk_GENERAL_NAME_push(names, gn.get()) == 0) {
    return internal("out of memory building a SAN");
  }
  gn.release();
  return absl::OkStatus();
}

absl::Status push_ip_name(GENERAL_NAMES* names, const std::string& ip) {
  OctetPtr octets(a2i_IPADDRESS(ip.c_str()));
  if (!octets) {
    ssl_error();
    return absl::InvalidArgumentError(
        absl::StrCat("bad IP SAN \"", ip, "\": not an IPv4 or IPv6 literal"));
  }
  GenNamePtr gn(GENERAL_NAME_new());
  if (!gn) {
    return internal("out of memory building a SAN");
  }
  GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, octets.release());
  if (sk_GENERAL_NAME_push(names, gn.get()) == 0) {
    return internal("out of memory building a SAN");
  }
  gn.release();
  return absl::OkStatus();
}

std::string ip_to_string(const ASN1_OCTET_STRING* ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  const unsigned char* data = ASN1_STRING_get0_data(ip);
  int len = ASN1_STRING_length(ip);
  if (len == 4) {
    inet_ntop(AF_INET, data, buf, sizeof buf);
  } else if (len == 16) {
    inet_ntop(AF_INET6, data, buf, sizeof buf);
  } else {
    return "<bad ip>";
  }
  return buf;
}

std::string ia5_to_string(const ASN1_IA5STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

absl::StatusOr<std::string> to_pem_key(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  // PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY") in OpenSSL 3.
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return internal("cannot encode the private key as PEM");
  }
  return bio_string(bio.get());
}

// ---- fetch_peer_chain plumbing ------------------------------------------

// An owned file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset(std::exchange(other.fd_, -1));
    }
    return *this;
  }
  ~Fd() { reset(-1); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd) {
    if (fd_ >= 0) {
      close(fd_);
    }
    fd_ = fd;
  }

 private:
  int fd_;
};

// OpenSSL writes to the socket with write(2), which raises SIGPIPE when the
// peer has already closed. A library must not kill or disturb its host
// process, so SIGPIPE is blocked on this thread while the handshake runs and
// a SIGPIPE it raised is consumed before the old mask returns.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    was_blocked_ = sigismember(&old_, SIGPIPE) == 1;
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;
  ~ScopedSigpipeBlock() {
    if (!was_blocked_) {
      sigset_t pending;
      sigemptyset(&pending);
      if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{0, 0};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_blocked_ = false;
};

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Splits "host:port" / "[v6]:port".
std::optional<std::pair<std::string, std::string>> split_host_port(const std::string& hp) {
  if (absl::StartsWith(hp, "[")) {
    size_t close = hp.find("]:");
    if (close == std::string::npos || close + 2 >= hp.size()) {
      return std::nullopt;
    }
    return std::make_pair(hp.substr(1, close - 1), hp.substr(close + 2));
  }
  size_t colon = hp.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= hp.size() || hp.find(':') != colon) {
    return std::nullopt;
  }
  return std::make_pair(hp.substr(0, colon), hp.substr(colon + 1));
}

// A connected, non-blocking TCP socket to the first address of `host` that
// accepts before `deadline`; UNAVAILABLE naming the last failure otherwise.
absl::StatusOr<Fd> connect_tcp(const std::string& host_port, const std::string& host,
                               const std::string& port, Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int gai = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach ", host_port, ": ", gai_strerror(gai)));
  }
  std::unique_ptr<addrinfo, Deleter<freeaddrinfo>> res_owner(res);
  int last_errno = ETIMEDOUT;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    Fd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (fd.get() < 0) {
      last_errno = errno;
      continue;
    }
    if (connect(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0) {
      return fd;
    }
    if (errno != EINPROGRESS) {
      last_errno = errno;
      continue;
    }
    pollfd p{fd.get(), POLLOUT, 0};
    int n;
    do {
      n = poll(&p, 1, remaining_ms(deadline));
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
      last_errno = ETIMEDOUT;
      break;  // one deadline covers every address
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (n < 0 || getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
      err = errno;
    }
    if (err == 0) {
      return fd;
    }
    last_errno = err;
  }
  return absl::UnavailableError(
      absl::StrCat("cannot reach ", host_port, ": ", std::strerror(last_errno)));
}

// "sha256:<64 lowercase hex>" from a user-typed hash, or nullopt.
std::optional<std::string> normalize_hash(std::string_view hash) {
  constexpr std::string_view kPrefix = "sha256:";
  if (hash.size() != kPrefix.size() + 64 ||
      !absl::EqualsIgnoreCase(av(hash.substr(0, kPrefix.size())), av(kPrefix))) {
    return std::nullopt;
  }
  std::string out(kPrefix);
  for (char c : hash.substr(kPrefix.size())) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
    out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

absl::Status errno_status(int err, std::string_view what) {
  return absl::ErrnoToStatus(err, av(what));
}

}  // namespace

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kCoordinator:
      return "coordinator";
    case Role::kNode:
      return "node";
    case Role::kUser:
      return "user";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

absl::StatusOr<Role> parse_role(std::string_view name) {
  for (Role r : {Role::kCoordinator, Role::kNode, Role::kUser, Role::kAdmin}) {
    if (name == role_name(r)) {
      return r;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown role \"", av(name), "\" (expected coordinator, node, user or admin)"));
}

absl::StatusOr<std::string> generate_key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) {
    return internal("cannot generate an EC P-256 key");
  }
  return to_pem_key(key.get());
}

absl::StatusOr<CertKey> create_ca(std::string_view common_name, std::chrono::seconds validity) {
  if (common_name.empty()) {
    return absl::InvalidArgumentError("the CA needs a common name");
  }
  if (validity.count() <= 0) {
    return absl::InvalidArgumentError("the CA's validity must be positive");
  }
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  X509Ptr cert(X509_new());
  if (!key || !cert) {
    return internal("cannot allocate the CA");
  }
  auto serial = random_serial();
  if (!serial.ok()) {
    return serial.status();
  }
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(cert.get(), serial->get()) != 1 ||
      X509_set_pubkey(cert.get(), key.get()) != 1) {
    return internal("cannot fill in the CA certificate");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (auto s = add_name_entry(subject, "CN", common_name); !s.ok()) {
    return s;
  }
  if (X509_set_issuer_name(cert.get(), subject) != 1) {
    return internal("cannot set the CA's issuer");
  }
  if (auto s = set_validity(cert.get(), validity, nullptr); !s.ok()) {
    return s;
  }
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                            std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                            std::pair{NID_subject_key_identifier, "hash"},
                            std::pair{NID_authority_key_identifier, "keyid:always"}}) {
    if (auto s = add_ext(cert.get(), cert.get(), nid, value); !s.ok()) {
      return s;
    }
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    return internal("cannot sign the CA certificate");
  }
  CertKey out;
  auto pem = cert_to_pem(cert.get());
  auto key_pem = to_pem_key(key.get());
  if (!pem.ok()) {
    return pem.status();
  }
  if (!key_pem.ok()) {
    return key_pem.status();
  }
  out.cert_pem = *std::move(pem);
  out.key_pem = *std::move(key_pem);
  return out;
}

absl::StatusOr<std::string> make_csr(std::string_view key_pem, std::string_view common_name) {
  auto key = parse_key(key_pem);
  if (!key.ok()) {
    return key.status();
  }
  ReqPtr req(X509_REQ_new());
  if (!req) {
    return internal("cannot allocate a CSR");
  }
  if (X509_REQ_set_version(req.get(), 0) != 1 || X509_REQ_set_pubkey(req.get(), key->get()) != 1) {
    return internal("cannot fill in the CSR");
  }
  if (auto s = add_name_entry(X509_REQ_get_subject_name(req.get()), "CN", common_name); !s.ok()) {
    return s;
  }
  if (X509_REQ_sign(req.get(), key->get(), EVP_sha256()) <= 0) {
    return internal("cannot sign the CSR");
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1) {
    return internal("cannot encode the CSR as PEM");
  }
  return bio_string(bio.get());
}

absl::StatusOr<KeyAndCsr> new_key_and_csr(std::string_view common_name) {
  auto key = generate_key();
  if (!key.ok()) {
    return key.status();
  }
  auto csr = make_csr(*key, common_name);
  if (!csr.ok()) {
    return csr.status();
  }
  return KeyAndCsr{*std::move(key), *std::move(csr)};
}

absl::StatusOr<Issued> issue(const CertKey& ca, const IssueRequest& request) {
  if (auto s = check_name(request.name); !s.ok()) {
    return s;
  }
  if (request.role != Role::kCoordinator &&
      (!request.dns_sans.empty() || !request.ip_sans.empty())) {
    return absl::InvalidArgumentError(
        "DNS and IP SANs are for server (coordinator) certificates only");
  }
  for (const std::string& dns : request.dns_sans) {
    if (!valid_dns_name(dns)) {
      return absl::InvalidArgumentError(absl::StrCat("bad DNS SAN \"", dns, "\""));
    }
  }
  if (request.validity.count() <= 0) {
    return absl::InvalidArgumentError("the certificate's validity must be positive");
  }

  BioPtr csr_bio = mem_bio(request.csr_pem);
  ReqPtr req(csr_bio ? PEM_read_bio_X509_REQ(csr_bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!req) {
    return ssl_status(absl::StatusCode::kInvalidArgument, "cannot parse the CSR");
  }
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req.get());
  if (pub == nullptr) {
    return ssl_status(absl::StatusCode::kInvalidArgument, "the CSR's public key cannot be decoded");
  }
  if (X509_REQ_verify(req.get(), pub) != 1) {
    return ssl_status(absl::StatusCode::kInvalidArgument,
                      "the CSR's signature does not verify with its own key");
  }

  auto ca_cert = parse_cert(ca.cert_pem);
  if (!ca_cert.ok()) {
    return ca_cert.status();
  }
  auto ca_key = parse_key(ca.key_pem);
  if (!ca_key.ok()) {
    return ca_key.status();
  }
  if (!cert_is_ca(ca_cert->get())) {
    return absl::FailedPreconditionError("the signing certificate is not a CA");
  }
  if (EVP_PKEY_eq(X509_get0_pubkey(ca_cert->get()), ca_key->get()) != 1) {
    ssl_error();
    return absl::FailedPreconditionError("the CA key does not match the CA certificate");
  }

  X509Ptr cert(X509_new());
  auto serial = random_serial();
  if (!cert) {
    return internal("cannot allocate a certificate");
  }
  if (!serial.ok()) {
    return serial.status();
  }
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(cert.get(), serial->get()) != 1 ||
      X509_set_pubkey(cert.get(), pub) != 1 ||
      X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert->get())) != 1) {
    return internal("cannot fill in the certificate");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (auto s = add_name_entry(subject, "CN", request.name); !s.ok()) {
    return s;
  }
  if (auto s = add_name_entry(subject, "O", absl::StrCat("skein-", av(role_name(request.role))));
      !s.ok()) {
    return s;
  }
  if (auto s = set_validity(cert.get(), request.validity, ca_cert->get()); !s.ok()) {
    return s;
  }

  const char* eku = request.role == Role::kCoordinator ? "serverAuth,clientAuth" : "clientAuth";
  for (auto [nid, value] :
       {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
        std::pair{NID_key_usage, "critical,digitalSignature"}, std::pair{NID_ext_key_usage, eku},
        std::pair{NID_subject_key_identifier, "hash"},
        std::pair{NID_authority_key_identifier, "keyid:always"}}) {
    if (auto s = add_ext(cert.get(), ca_cert->get(), nid, value); !s.ok()) {
      return s;
    }
  }

  GenNamesPtr sans(sk_GENERAL_NAME_new_null());
  if (!sans) {
    return internal("out of memory building SANs");
  }
  if (auto s =
          push_ia5_name(sans.get(), GEN_URI,
                        absl::StrCat(kUriScheme, av(role_name(request.role)), "/", request.name));
      !s.ok()) {
    return s;
  }
  for (const std::string& dns : request.dns_sans) {
    if (auto s = push_ia5_name(sans.get(), GEN_DNS, dns); !s.ok()) {
      return s;
    }
  }
  for (const std::string& ip : request.ip_sans) {
    if (auto s = push_ip_name(sans.get(), ip); !s.ok()) {
      return s;
    }
  }
  // Critical only when the subject is empty (RFC 5280 4.2.1.6); ours never is.
  if (X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, sans.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return internal("cannot add the subjectAltName extension");
  }

  if (X509_sign(cert.get(), ca_key->get(), EVP_sha256()) <= 0) {
    return internal("cannot sign the certificate");
  }
  auto pem = cert_to_pem(cert.get());
  if (!pem.ok()) {
    return pem.status();
  }
  Issued out;
  out.cert_pem = *std::move(pem);
  out.serial = serial_hex(X509_get0_serialNumber(cert.get()));
  out.not_after_unix = to_unix(X509_get0_notAfter(cert.get()));
  return out;
}

absl::StatusOr<CertKey> issue_with_new_key(const CertKey& ca,
                                           const IssueRequest& request_without_csr) {
  // Checked before make_csr so a bad name gets issue()'s message, not X509_NAME's.
  if (auto s = check_name(request_without_csr.name); !s.ok()) {
    return s;
  }
  auto fresh = new_key_and_csr(request_without_csr.name);
  if (!fresh.ok()) {
    return fresh.status();
  }
  IssueRequest request = request_without_csr;
  request.csr_pem = std::move(fresh->csr_pem);
  auto issued = issue(ca, request);
  if (!issued.ok()) {
    return issued.status();
  }
  return CertKey{std::move(issued->cert_pem), std::move(fresh->key_pem)};
}

absl::StatusOr<CertInfo> inspect(std::string_view cert_pem) {
  auto cert = parse_cert(cert_pem);
  if (!cert.ok()) {
    return cert.status();
  }
  X509* x = cert->get();
  CertInfo info;
  info.serial = serial_hex(X509_get0_serialNumber(x));
  info.not_before_unix = to_unix(X509_get0_notBefore(x));
  info.not_after_unix = to_unix(X509_get0_notAfter(x));
  info.is_ca = cert_is_ca(x);
  auto hash = hash_spki(x);
  if (!hash.ok()) {
    return hash.status();
  }
  info.spki_sha256 = *std::move(hash);

  int crit = 0;
  GenNamesPtr sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, &crit, nullptr)));
  if (!sans) {
    // crit == -1: no SAN extension; anything else is a malformed one.
    ssl_error();
    if (crit != -1) {
      return absl::InvalidArgumentError("the certificate's subjectAltName cannot be parsed");
    }
    return info;
  }
  bool have_identity = false;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
    if (gn->type == GEN_DNS) {
      info.dns_sans.push_back(ia5_to_string(gn->d.dNSName));
    } else if (gn->type == GEN_IPADD) {
      info.ip_sans.push_back(ip_to_string(gn->d.iPAddress));
    } else if (gn->type == GEN_URI) {
      std::string uri = ia5_to_string(gn->d.uniformResourceIdentifier);
      if (!absl::StartsWith(uri, kUriScheme)) {
        continue;
      }
      // Two identities in one certificate would let the reader pick the
      // wrong one; refuse rather than guess.
      if (have_identity) {
        return absl::InvalidArgumentError("the certificate carries two skein:// identities");
      }
      std::string_view rest = std::string_view(uri).substr(sizeof(kUriScheme) - 1);
      size_t slash = rest.find('/');
      auto role = parse_role(rest.substr(0, slash == std::string_view::npos ? 0 : slash));
      std::string_view name =
          slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
      if (!role.ok() || !valid_principal_name(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("malformed identity URI \"", uri, "\" (want skein://<role>/<name>)"));
      }
      info.role = *role;
      info.name = std::string(name);
      have_identity = true;
    }
  }
  return info;
}

absl::StatusOr<std::string> spki_sha256(std::string_view cert_pem) {
  auto cert = parse_cert(cert_pem);
  if (!cert.ok()) {
    return cert.status();
  }
  return hash_spki(cert->get());
}

absl::Status verify_signed_by(std::string_view cert_pem, std::string_view ca_cert_pem) {
  auto cert = parse_cert(cert_pem);
  if (!cert.ok()) {
    return cert.status();
  }
  auto ca = parse_cert(ca_cert_pem);
  if (!ca.ok()) {
    return ca.status();
  }
  if (!cert_is_ca(ca->get())) {
    return absl::PermissionDeniedError("the issuing certificate is not a CA");
  }
  EVP_PKEY* ca_key = X509_get0_pubkey(ca->get());
  if (ca_key == nullptr || X509_verify(cert->get(), ca_key) != 1) {
    ssl_error();
    return absl::PermissionDeniedError("the certificate is not signed by this CA");
  }
  std::int64_t not_before = to_unix(X509_get0_notBefore(cert->get()));
  std::int64_t not_after = to_unix(X509_get0_notAfter(cert->get()));
  std::string period = absl::StrCat("valid from ", iso_time(not_before), " to ",
                                    iso_time(not_after), ", now ", iso_time(std::time(nullptr)));
  if (X509_cmp_current_time(X509_get0_notBefore(cert->get())) >= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the certificate is not yet valid (", period, ")"));
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert->get())) <= 0) {
    return absl::FailedPreconditionError(absl::StrCat("the certificate expired (", period, ")"));
  }
  return absl::OkStatus();
}

bool key_matches_cert(std::string_view key_pem, std::string_view cert_pem) {
  auto key = parse_key(key_pem);
  auto cert = parse_cert(cert_pem);
  if (!key.ok() || !cert.ok()) {
    return false;
  }
  EVP_PKEY* pub = X509_get0_pubkey(cert->get());
  bool match = pub != nullptr && EVP_PKEY_eq(pub, key->get()) == 1;
  ssl_error();
  return match;
}

absl::StatusOr<std::vector<std::string>> fetch_peer_chain(const std::string& host_port,
                                                          std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  auto hp = split_host_port(host_port);
  if (!hp) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad address \"", host_port, "\": want HOST:PORT or [IPv6]:PORT"));
  }
  const auto& [host, port] = *hp;
  auto fd = connect_tcp(host_port, host, port, deadline);
  if (!fd.ok()) {
    return fd.status();
  }

  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    return internal("cannot create a TLS context");
  }
  // No verification here on purpose: nothing is trusted yet. The caller
  // decides what the chain is worth with pin_ca.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // gRPC servers refuse a handshake that does not offer HTTP/2.
  static constexpr unsigned char kAlpn[] = {2, 'h', '2'};
  if (SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof kAlpn) != 0) {
    return internal("cannot set ALPN");
  }
  SslPtr ssl(SSL_new(ctx.get()));
  if (!ssl || SSL_set_fd(ssl.get(), fd->get()) != 1) {
    return internal("cannot create a TLS session");
  }
  unsigned char addr[sizeof(in6_addr)];
  bool is_ip_literal =
      inet_pton(AF_INET, host.c_str(), addr) == 1 || inet_pton(AF_INET6, host.c_str(), addr) == 1;
  // SNI must not carry an IP literal (RFC 6066 section 3).
  if (!is_ip_literal && SSL_set_tlsext_host_name(ssl.get(), host.c_str()) != 1) {
    return internal("cannot set SNI");
  }

  {
    ScopedSigpipeBlock no_sigpipe;
    for (;;) {
      // A stale EAGAIN from an earlier round must not explain a later EOF.
      errno = 0;
      int rc = SSL_connect(ssl.get());
      if (rc == 1) {
        break;
      }
      int err = SSL_get_error(ssl.get(), rc);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        std::string detail = ssl_error();
        if (err == SSL_ERROR_SYSCALL && detail.empty()) {
          detail = errno != 0 ? std::strerror(errno) : "the peer closed the connection";
        }
        return absl::FailedPreconditionError(
            absl::StrCat(host_port, " does not speak TLS (a plaintext coordinator?)",
                         detail.empty() ? "" : absl::StrCat(": ", detail)));
      }
      pollfd p{fd->get(), static_cast<short>(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
      int n = poll(&p, 1, remaining_ms(deadline));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        ssl_error();
        return absl::UnavailableError(absl::StrCat("cannot reach ", host_port, ": ",
                                                   std::strerror(n == 0 ? ETIMEDOUT : errno),
                                                   " (during the TLS handshake)"));
      }
    }
    // Best effort close_notify; the answer does not matter.
    SSL_shutdown(ssl.get());
    ssl_error();
  }

  // On the client side the chain includes the leaf (unlike the server side).
  std::vector<X509*> certs;
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get())) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      certs.push_back(sk_X509_value(chain, i));
    }
  }
  X509Ptr leaf(SSL_get1_peer_certificate(ssl.get()));
  if (leaf && (certs.empty() || X509_cmp(certs.front(), leaf.get()) != 0)) {
    certs.insert(certs.begin(), leaf.get());
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < certs.size(); ++i) {
    bool duplicate = false;
    for (size_t j = 0; j < i; ++j) {
      duplicate = duplicate || X509_cmp(certs[i], certs[j]) == 0;
    }
    if (duplicate) {
      continue;
    }
    auto pem = cert_to_pem(certs[i]);
    if (!pem.ok()) {
      return pem.status();
    }
    out.push_back(*std::move(pem));
  }
  if (out.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(host_port, " completed TLS without presenting a certificate"));
  }
  return out;
}

absl::StatusOr<std::string> pin_ca(const std::vector<std::string>& chain,
                                   std::string_view expected_hash) {
  std::optional<std::string> expected = normalize_hash(expected_hash);
  if (!expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad CA hash \"", av(expected_hash), "\": want sha256:<64 hex digits>"));
  }
  if (chain.empty()) {
    return absl::PermissionDeniedError("the coordinator presented no certificate");
  }
  std::string actual;  // the last CA in the chain, for the message
  for (const std::string& pem : chain) {
    auto info = inspect(pem);
    if (!info.ok()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "the coordinator presented an unreadable certificate: ", info.status().message()));
    }
    if (!info->is_ca) {
      continue;
    }
    if (info->spki_sha256 != *expected) {
      actual = info->spki_sha256;
      continue;
    }
    // The right key; it must also have signed what the coordinator serves.
    absl::Status signed_leaf = verify_signed_by(chain.front(), pem);
    if (!signed_leaf.ok()) {
      return absl::Status(signed_leaf.code(),
                          absl::StrCat("the coordinator's certificate does not check out "
                                       "against the pinned CA: ",
                                       signed_leaf.message()));
    }
    return pem;
  }
  if (actual.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the coordinator presented no CA certificate, so the expected ", *expected,
        " cannot be checked (the coordinator must serve its certificate followed by the CA's)"));
  }
  return absl::PermissionDeniedError(absl::StrCat("the coordinator's CA is ", actual,
                                                  ", not the expected ", *expected,
                                                  " (wrong --ca-hash, or another cluster)"));
}

absl::Status write_file_atomic(const std::string& path, std::string_view content, unsigned mode) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string tmp = path + ".tmp.XXXXXX";
  // mkstemp creates the file 0600, so a key is never readable by others, not
  // even between creation and the fchmod below.
  Fd fd(mkostemp(tmp.data(), O_CLOEXEC));
  if (fd.get() < 0) {
    return errno_status(errno, absl::StrCat("cannot create a temporary file next to ", path));
  }
  auto fail = [&](std::string_view what) {
    int err = errno;
    unlink(tmp.c_str());
    return errno_status(err, absl::StrCat("cannot ", av(what), " ", path));
  };
  if (fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) {
    return fail("set the mode of");
  }
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail("write");
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd.get()) != 0) {
    return fail("fsync");
  }
  if (close(fd.release()) != 0) {
    return fail("close");
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return fail("rename a temporary file onto");
  }
  // The rename itself is durable only once the directory is synced.
  Fd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0) {
    fsync(dir_fd.get());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> read_file(const std::string& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    }
    return errno_status(err, absl::StrCat("cannot open ", path));
  }
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno_status(errno, absl::StrCat("cannot read ", path));
    }
    if (n == 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace skein::pki
