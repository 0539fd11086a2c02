// The CLI's config file: named contexts, as kubectl's kubeconfig.
//
// JSON, mode 0600, at --config, else $SKEIN_CONFIG, else <state-dir>/config
// (~/.skein/config):
//   {"current-context": "prod",
//    "contexts": {"prod": {"server": "10.0.0.1:7700",
//                          "ca": "<PEM>", "cert": "<PEM>", "key": "<PEM>",
//                          "role": "admin"}}}
// A context holds everything needed to reach one cluster as one principal:
// the coordinator's address, the cluster CA that verifies it, and the client
// certificate and key (a user's or an admin's). Credentials are embedded so
// that one file can be handed to another person or host (`skein user
// create --out FILE`, then `skein --config FILE ...` or `skein config
// import FILE`).
#pragma once

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skein::cli {

struct Context {
  std::string server;  // host:port
  std::string ca;      // PEM
  std::string cert;    // PEM
  std::string key;     // PEM
  std::string role;    // informational: "admin" or "user"
};

struct ConfigFile {
  std::string current;
  std::map<std::string, Context> contexts;

  // NOT_FOUND if the file does not exist; DATA_LOSS if it does not parse.
  static absl::StatusOr<ConfigFile> load(const std::string& path);
  // Atomically, mode 0600.
  absl::Status save(const std::string& path) const;
  // The current context; NOT_FOUND naming `skein config use-context` if none.
  absl::StatusOr<Context> current_context() const;
};

}  // namespace skein::cli
