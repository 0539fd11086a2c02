// skein user create NAME --out FILE: a credential for a person (admin only).
//
// The key is made here and never leaves this host; the coordinator signs a
// CSR as a user (or admin) certificate. FILE is a config file with one
// context (address, CA, certificate, key), mode 0600, to hand to that
// person: `skein --config FILE jobs`, or `skein config import FILE`.
#include <grpcpp/grpcpp.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "client.hpp"
#include "commands/commands.hpp"
#include "config_file.hpp"
#include "credential.hpp"

namespace skein::cli {
namespace {

struct UserArgs {
  std::string name;
  std::string role = "user";
  std::string out;
  std::int64_t ttl_days = 365;
  std::string server;
};

int run_create(const CommandContext& ctx, const UserArgs& a) {
  auto client = Client::connect(ctx.opts);
  if (!client.ok()) {
    return fail("user create", client.status());
  }
  auto credential =
      issue_credential(*client, a.name, a.role, std::chrono::seconds(a.ttl_days * 86400));
  if (!credential.ok()) {
    return fail("user create", credential.status());
  }
  std::string server = a.server;
  if (server.empty()) {
    skein::v1::GetClusterInfoResponse info;
    auto rpc2 = client->unary_context();
    if (client->stub().GetClusterInfo(rpc2.get(), {}, &info).ok() && info.addresses_size() > 0) {
      server = join_address(info.addresses(0));
    } else {
      server = client->address();
    }
  }
  ConfigFile file;
  const std::string context = absl::StrCat(a.name, "@", server);
  file.current = context;
  credential->server = server;
  file.contexts[context] = *credential;
  if (absl::Status s = file.save(a.out); !s.ok()) {
    return fail("user create", s);
  }
  std::printf(
      "%s credential for '%s' written to %s (context %s, mode 0600).\n"
      "Hand it over privately; then: skein --config %s jobs   (or: skein config import %s)\n",
      a.role.c_str(), a.name.c_str(), a.out.c_str(), context.c_str(), a.out.c_str(), a.out.c_str());
  return kExitOk;
}

}  // namespace

void add_user(CLI::App& app, CommandContext& ctx) {
  auto* cmd = app.add_subcommand("user", "Credentials for people (admin): create");
  cmd->require_subcommand(1);
  auto a = std::make_shared<UserArgs>();
  auto* c = cmd->add_subcommand(
      "create",
      "Make a user (or admin) certificate and write it, with the cluster's address and "
      "CA, to a config file for that person");
  c->add_option("NAME", a->name, "Who it is for (1-64 of A-Z a-z 0-9 . _ -)")->required();
  c->add_option("--role", a->role,
                "user (jobs, logs, nodes, stats) or admin (also tokens, node "
                "removal, credentials, shutdown)")
      ->check(CLI::IsMember({"user", "admin"}))
      ->capture_default_str();
  c->add_option("--out,-o", a->out, "Config file to write (mode 0600)")->required();
  c->add_option("--days", a->ttl_days, "Validity in days")
      ->check(CLI::Range(1, 3650))
      ->capture_default_str();
  c->add_option("--server", a->server,
                "Address to put in the file (default: the coordinator's advertised address)");
  c->callback([&ctx, a] { ctx.exit_code = run_create(ctx, *a); });
}

}  // namespace skein::cli
