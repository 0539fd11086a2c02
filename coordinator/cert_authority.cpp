#include "cert_authority.hpp"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "skein/common/bind_policy.hpp"
#include "skein/common/log.hpp"
#include "skein/common/sha256.hpp"

namespace skein::coordinator {
namespace {

constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::size_t kIdLength = 6;
constexpr std::size_t kSecretLength = 32;

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::StatusOr<std::string> random_word(std::size_t n) {
  std::string out(n, '\0');
  std::vector<unsigned char> bytes(n);
  if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  // 256 % 36 != 0: the tiny bias still leaves > 160 bits in the 32-char secret.
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = kAlphabet[bytes[i] % (sizeof(kAlphabet) - 1)];
  }
  return out;
}

bool is_ip_literal(const std::string& host) {
  in_addr v4;
  in6_addr v6;
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

// "10.0.0.1:7700" or "[::1]:7700" or "host" -> the host part.
std::string host_of(const std::string& address) {
  if (auto hp = split_host_port(address); hp.ok()) {
    return hp->host;
  }
  if (address.size() > 2 && address.front() == '[' && address.back() == ']') {
    return address.substr(1, address.size() - 2);
  }
  return address;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CertAuthority>> CertAuthority::open(
    const CertAuthorityConfig& config) {
  std::unique_ptr<CertAuthority> ca(new CertAuthority(config));
  std::error_code ec;
  std::filesystem::create_directories(config.dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create PKI directory ", config.dir, ": ", ec.message()));
  }
  ::chmod(config.dir.c_str(), 0700);
  const std::string ca_crt = config.dir + "/ca.crt";
  const std::string ca_key = config.dir + "/ca.key";
  if (!std::filesystem::exists(ca_crt)) {
    auto made = pki::create_ca("skein-cluster-ca", std::chrono::hours(24 * 3650));
    if (!made.ok()) {
      return made.status();
    }
    // Key first: a crash between the two leaves no certificate without key.
    if (auto s = pki::write_file_atomic(ca_key, made->key_pem, 0600); !s.ok()) {
      return s;
    }
    if (auto s = pki::write_file_atomic(ca_crt, made->cert_pem, 0644); !s.ok()) {
      return s;
    }
    logger("coordinator")->info("created the cluster CA in {}", config.dir);
  }
  auto cert = pki::read_file(ca_crt);
  auto key = pki::read_file(ca_key);
  if (!cert.ok()) {
    return cert.status();
  }
  if (!key.ok()) {
    return key.status();
  }
  if (!pki::key_matches_cert(*key, *cert)) {
    return absl::FailedPreconditionError(
        absl::StrCat(ca_key, " does not belong to ", ca_crt, ": restore both from one backup"));
  }
  ca->ca_ = {*cert, *key};
  auto hash = pki::spki_sha256(*cert);
  if (!hash.ok()) {
    return hash.status();
  }
  ca->ca_hash_ = *hash;
  if (auto s = ca->load_state(); !s.ok()) {
    return s;
  }

  // The server certificate: every advertised host, plus loopback so that
  // local agents and the CLI on the coordinator's host can dial 127.0.0.1.
  pki::IssueRequest req;
  req.role = pki::Role::kCoordinator;
  req.name = "coordinator";
  req.validity = config.server_validity;
  std::vector<std::string> hosts = {"127.0.0.1", "localhost", "::1"};
  for (const auto& a : config.advertise) {
    hosts.push_back(host_of(a));
  }
  for (const auto& h : hosts) {
    auto& list = is_ip_literal(h) ? req.ip_sans : req.dns_sans;
    if (std::find(list.begin(), list.end(), h) == list.end()) {
      list.push_back(h);
    }
  }
  auto server = pki::issue_with_new_key(ca->ca_, req);
  if (!server.ok()) {
    return server.status();
  }
  if (auto s = pki::write_file_atomic(config.dir + "/server.key", server->key_pem, 0600); !s.ok()) {
    return s;
  }
  // The CA travels in the chain so that a joining host can pin it.
  if (auto s = pki::write_file_atomic(config.dir + "/server.crt",
                                      server->cert_pem + ca->ca_.cert_pem, 0644);
      !s.ok()) {
    return s;
  }
  return ca;
}

std::vector<std::string> CertAuthority::addresses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return addresses_;
}

void CertAuthority::set_addresses(std::vector<std::string> addresses) {
  std::lock_guard<std::mutex> lock(mu_);
  addresses_ = std::move(addresses);
}

TlsFiles CertAuthority::server_tls() const {
  return TlsFiles{config_.dir + "/server.crt", config_.dir + "/server.key",
                  config_.dir + "/ca.crt"};
}

absl::Status CertAuthority::load_state() {
  auto text = pki::read_file(config_.dir + "/state.json");
  if (!text.ok()) {
    return absl::OkStatus();  // first start
  }
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(
        absl::StrCat(config_.dir, "/state.json is corrupt; restore it from a backup"));
  }
  try {
    for (const auto& t : j.value("tokens", nlohmann::json::array())) {
      BootstrapToken b;
      b.id = t.at("id").get<std::string>();
      b.secret_sha256 = t.at("secret_sha256").get<std::string>();
      b.description = t.value("description", "");
      b.created_unix_ms = t.value("created_unix_ms", std::int64_t{0});
      b.expires_unix_ms = t.at("expires_unix_ms").get<std::int64_t>();
      b.uses = t.value("uses", 0u);
      tokens_[b.id] = b;
    }
    for (const auto& c : j.value("issued", nlohmann::json::array())) {
      IssuedCert ic;
      ic.serial = c.at("serial").get<std::string>();
      ic.name = c.at("name").get<std::string>();
      auto role = pki::parse_role(c.at("role").get<std::string>());
      if (!role.ok()) {
        return role.status();
      }
      ic.role = *role;
      ic.not_after_unix = c.value("not_after_unix", std::int64_t{0});
      issued_.push_back(ic);
    }
    for (const auto& s : j.value("revoked", nlohmann::json::array())) {
      revoked_.insert(s.get<std::string>());
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat(config_.dir, "/state.json: ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status CertAuthority::save_state_locked() const {
  const std::int64_t now = now_unix_ms();
  const std::int64_t now_s = now / 1000;
  nlohmann::json j;
  j["tokens"] = nlohmann::json::array();
  for (const auto& [id, t] : tokens_) {
    if (t.expires_unix_ms <= now) {
      continue;
    }
    j["tokens"].push_back({{"id", t.id},
                           {"secret_sha256", t.secret_sha256},
                           {"description", t.description},
                           {"created_unix_ms", t.created_unix_ms},
                           {"expires_unix_ms", t.expires_unix_ms},
                           {"uses", t.uses}});
  }
  j["issued"] = nlohmann::json::array();
  j["revoked"] = nlohmann::json::array();
  for (const auto& c : issued_) {
    // An expired certificate needs neither listing nor revoking: TLS refuses it.
    if (c.not_after_unix != 0 && c.not_after_unix < now_s) {
      continue;
    }
    j["issued"].push_back({{"serial", c.serial},
                           {"name", c.name},
                           {"role", std::string(pki::role_name(c.role))},
                           {"not_after_unix", c.not_after_unix}});
    if (revoked_.count(c.serial) != 0) {
      j["revoked"].push_back(c.serial);
    }
  }
  return pki::write_file_atomic(config_.dir + "/state.json", j.dump(1), 0600);
}

absl::StatusOr<std::string> CertAuthority::create_token(std::chrono::seconds ttl,
                                                        std::string description,
                                                        BootstrapToken* info) {
  if (ttl <= std::chrono::seconds(0) || ttl > std::chrono::hours(24 * 30)) {
    return absl::InvalidArgumentError("a join token lives between 1 second and 30 days");
  }
  auto id = random_word(kIdLength);
  auto secret = random_word(kSecretLength);
  if (!id.ok() || !secret.ok()) {
    return absl::InternalError("cannot draw random bytes for a token");
  }
  BootstrapToken t;
  t.id = *id;
  t.secret_sha256 = sha256_hex(*secret);
  t.description = std::move(description);
  t.created_unix_ms = now_unix_ms();
  t.expires_unix_ms =
      t.created_unix_ms + std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
  std::lock_guard<std::mutex> lock(mu_);
  if (tokens_.count(t.id) != 0) {
    return absl::AlreadyExistsError("token id collision; try again");
  }
  tokens_[t.id] = t;
  if (auto s = save_state_locked(); !s.ok()) {
    tokens_.erase(t.id);
    return s;
  }
  if (info != nullptr) {
    *info = t;
  }
  return absl::StrCat(*id, ".", *secret);
}

std::vector<BootstrapToken> CertAuthority::list_tokens() const {
  const std::int64_t now = now_unix_ms();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<BootstrapToken> out;
  for (const auto& [id, t] : tokens_) {
    if (t.expires_unix_ms > now) {
      out.push_back(t);
    }
  }
  return out;
}

absl::Status CertAuthority::revoke_token(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(id);
  if (it == tokens_.end() || it->second.expires_unix_ms <= now_unix_ms()) {
    return absl::NotFoundError(absl::StrCat("no live join token with id '", id, "'"));
  }
  BootstrapToken saved = it->second;
  tokens_.erase(it);
  if (auto s = save_state_locked(); !s.ok()) {
    tokens_[id] = saved;
    return s;
  }
  return absl::OkStatus();
}

std::optional<std::string> CertAuthority::bootstrap_token_id(std::string_view token) const {
  if (token.size() != kIdLength + 1 + kSecretLength || token[kIdLength] != '.') {
    return std::nullopt;
  }
  const std::string id(token.substr(0, kIdLength));
  const std::string hash = sha256_hex(token.substr(kIdLength + 1));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(id);
  if (it == tokens_.end() || it->second.expires_unix_ms <= now_unix_ms()) {
    return std::nullopt;
  }
  if (CRYPTO_memcmp(hash.data(), it->second.secret_sha256.data(), hash.size()) != 0 ||
      it->second.secret_sha256.size() != hash.size()) {
    return std::nullopt;
  }
  return id;
}

bool CertAuthority::certificate_revoked(std::string_view serial) const {
  std::lock_guard<std::mutex> lock(mu_);
  return revoked_.find(serial) != revoked_.end();
}

absl::StatusOr<pki::Issued> CertAuthority::issue_locked(const pki::IssueRequest& request) {
  auto issued = pki::issue(ca_, request);
  if (!issued.ok()) {
    return issued.status();
  }
  issued_.push_back({issued->serial, request.name, request.role, issued->not_after_unix});
  if (auto s = save_state_locked(); !s.ok()) {
    issued_.pop_back();
    return s;
  }
  return issued;
}

absl::StatusOr<pki::Issued> CertAuthority::issue_node(const std::string& token_id,
                                                      const std::string& name,
                                                      const std::string& csr_pem) {
  pki::IssueRequest req;
  req.csr_pem = csr_pem;
  req.role = pki::Role::kNode;
  req.name = name;
  req.validity = config_.node_validity;
  std::lock_guard<std::mutex> lock(mu_);
  // Counted before issuing, so that the one state write of issue_locked
  // records the use; taken back if nothing was issued.
  auto token = token_id.empty() ? tokens_.end() : tokens_.find(token_id);
  if (token != tokens_.end()) {
    ++token->second.uses;
  }
  auto issued = issue_locked(req);
  if (!issued.ok() && token != tokens_.end()) {
    --token->second.uses;
  }
  return issued;
}

absl::StatusOr<pki::Issued> CertAuthority::issue_credential(const std::string& name, pki::Role role,
                                                            const std::string& csr_pem,
                                                            std::chrono::seconds validity) {
  if (role != pki::Role::kUser && role != pki::Role::kAdmin) {
    return absl::InvalidArgumentError("a credential's role is user or admin");
  }
  pki::IssueRequest req;
  req.csr_pem = csr_pem;
  req.role = role;
  req.name = name;
  req.validity = validity;
  std::lock_guard<std::mutex> lock(mu_);
  return issue_locked(req);
}

absl::StatusOr<std::vector<std::string>> CertAuthority::revoke_identity(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> serials;
  for (const auto& c : issued_) {
    if (c.name == name && c.role == pki::Role::kNode && revoked_.insert(c.serial).second) {
      serials.push_back(c.serial);
    }
  }
  if (auto s = save_state_locked(); !s.ok()) {
    for (const auto& serial : serials) {
      revoked_.erase(serial);
    }
    return s;
  }
  return serials;
}

}  // namespace skein::coordinator
