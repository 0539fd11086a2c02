#include "options.hpp"

#include <cstdlib>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace skein::cli {

std::string GlobalOptions::resolved_state_dir() const {
  if (!state_dir.empty()) {
    return state_dir;
  }
  if (const char* env = std::getenv("SKEIN_STATE_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  const char* home = std::getenv("HOME");
  return absl::StrCat(home != nullptr ? home : ".", "/.skein");
}

std::string GlobalOptions::resolved_config() const {
  if (!config.empty()) {
    return config;
  }
  if (const char* env = std::getenv("SKEIN_CONFIG"); env != nullptr && *env != '\0') {
    return env;
  }
  return resolved_state_dir() + "/config";
}

absl::StatusOr<std::string> GlobalOptions::resolved_coordinator() const {
  if (!coordinator.empty()) {
    return coordinator;
  }
  if (const char* env = std::getenv("SKEIN_COORDINATOR"); env != nullptr && *env != '\0') {
    return std::string(env);
  }
  const std::string path = resolved_state_dir() + "/coordinator.addr";
  std::ifstream f(path);
  std::string addr;
  if (!(f >> addr) || addr.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no cluster configured: start one here with `skein up`, or use a credential file an "
        "admin made with `skein user create` (`skein --config FILE ...` or `skein config import "
        "FILE`) (looked for ",
        resolved_config(), " and ", path, ")"));
  }
  return addr;
}

std::string GlobalOptions::resolved_token_file() const {
  if (!token_file.empty()) {
    return token_file;
  }
  if (const char* env = std::getenv("SKEIN_TOKEN_FILE"); env != nullptr && *env != '\0') {
    return env;
  }
  return resolved_state_dir() + "/token";
}

}  // namespace skein::cli
