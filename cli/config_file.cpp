#include "config_file.hpp"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "skein/common/pki.hpp"

namespace skein::cli {

absl::StatusOr<ConfigFile> ConfigFile::load(const std::string& path) {
  auto text = pki::read_file(path);
  if (!text.ok()) {
    return text.status();
  }
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(absl::StrCat(path, " is not a skein config file (JSON object)"));
  }
  ConfigFile out;
  try {
    out.current = j.value("current-context", "");
    const auto contexts = j.find("contexts");
    if (contexts != j.end() && !contexts->is_object()) {
      return absl::DataLossError(absl::StrCat(path, ": \"contexts\" must be an object"));
    }
    static const nlohmann::json kNone = nlohmann::json::object();
    const nlohmann::json& all = contexts == j.end() ? kNone : *contexts;
    for (const auto& [name, c] : all.items()) {
      Context ctx;
      ctx.server = c.at("server").get<std::string>();
      ctx.ca = c.value("ca", "");
      ctx.cert = c.value("cert", "");
      ctx.key = c.value("key", "");
      ctx.role = c.value("role", "");
      out.contexts[name] = ctx;
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": ", e.what()));
  }
  return out;
}

absl::Status ConfigFile::save(const std::string& path) const {
  nlohmann::json j;
  j["current-context"] = current;
  j["contexts"] = nlohmann::json::object();
  for (const auto& [name, c] : contexts) {
    j["contexts"][name] = {
        {"server", c.server}, {"ca", c.ca}, {"cert", c.cert}, {"key", c.key}, {"role", c.role}};
  }
  return pki::write_file_atomic(path, j.dump(2) + "\n", 0600);
}

absl::StatusOr<Context> ConfigFile::current_context() const {
  if (current.empty()) {
    return absl::NotFoundError("no current context: `skein config use-context NAME`");
  }
  auto it = contexts.find(current);
  if (it == contexts.end()) {
    return absl::NotFoundError(absl::StrCat("the current context '", current,
                                            "' is not in the config file: `skein config "
                                            "get-contexts`, then `skein config use-context NAME`"));
  }
  return it->second;
}

}  // namespace skein::cli
