#include "credential.hpp"

#include <grpcpp/grpcpp.h>

#include "skein/common/pki.hpp"

namespace skein::cli {

absl::StatusOr<Context> issue_credential(Client& client, const std::string& name,
                                         const std::string& role, std::chrono::seconds validity) {
  auto request = pki::new_key_and_csr(name);
  if (!request.ok()) {
    return request.status();
  }
  skein::v1::IssueCredentialRequest req;
  req.set_name(name);
  req.set_role(role);
  req.set_csr_pem(request->csr_pem);
  req.set_ttl_seconds(static_cast<std::uint32_t>(validity.count()));
  skein::v1::IssueCredentialResponse resp;
  auto rpc = client.unary_context();
  if (grpc::Status st = client.stub().IssueCredential(rpc.get(), req, &resp); !st.ok()) {
    return client.explain(st);
  }
  return Context{.server = "",
                 .ca = resp.ca_pem(),
                 .cert = resp.cert_pem(),
                 .key = request->key_pem,
                 .role = role};
}

}  // namespace skein::cli
