// Client credentials made by the CLI: the key is generated on this host and
// never leaves it; the coordinator signs a CSR for it as a user or admin
// certificate (Coordinator.IssueCredential, admin only). `skein user create`
// hands the result to a person, `skein up` keeps one for its own context.
#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "client.hpp"
#include "config_file.hpp"

namespace skein::cli {

// A context for `name` with `role` ("user" or "admin"): ca, cert, key and
// role filled in, server left empty. `validity` 0 = the coordinator's default.
absl::StatusOr<Context> issue_credential(Client& client, const std::string& name,
                                         const std::string& role, std::chrono::seconds validity);

}  // namespace skein::cli
