// skein token create|list|revoke: short-lived join tokens (admin only).
//
// A join token ("<id>.<secret>") lets one new host get a node certificate
// with `skein join`; together with the CA hash it pins the coordinator on
// first contact. Tokens expire (default 24 h) and can be revoked; the
// coordinator keeps only their hash, so the secret is printed once, here.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "client.hpp"
#include "commands/commands.hpp"
#include "table.hpp"

namespace skein::cli {
namespace {

std::string utc_ms(std::int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

struct CreateArgs {
  std::int64_t ttl_seconds = 24 * 3600;
  std::string description;
  bool print_only = false;
};

int run_create(const CommandContext& ctx, const CreateArgs& a) {
  auto client = Client::connect(ctx.opts);
  if (!client.ok()) {
    return fail("token create", client.status());
  }
  skein::v1::CreateTokenRequest req;
  req.set_ttl_seconds(static_cast<std::uint32_t>(a.ttl_seconds));
  req.set_description(a.description);
  skein::v1::CreateTokenResponse resp;
  auto rpc = client->unary_context();
  if (grpc::Status st = client->stub().CreateToken(rpc.get(), req, &resp); !st.ok()) {
    return fail("token create", client->explain(st));
  }
  if (a.print_only) {
    std::printf("%s\n", resp.token().c_str());
    return kExitOk;
  }
  const std::string addr = resp.addresses_size() > 0 ? resp.addresses(0) : client->address();
  std::printf("join token %s (expires %s)\nCA hash %s\n\nOn each new host run:\n\n",
              resp.info().id().c_str(), utc_ms(resp.info().expires_unix_ms()).c_str(),
              resp.ca_hash().c_str());
  std::printf("  skein join %s --token %s --ca-hash %s\n", join_address(addr).c_str(),
              resp.token().c_str(), resp.ca_hash().c_str());
  return kExitOk;
}

int run_list(const CommandContext& ctx) {
  auto client = Client::connect(ctx.opts);
  if (!client.ok()) {
    return fail("token list", client.status());
  }
  skein::v1::ListTokensResponse resp;
  auto rpc = client->unary_context();
  if (grpc::Status st = client->stub().ListTokens(rpc.get(), {}, &resp); !st.ok()) {
    return fail("token list", client->explain(st));
  }
  if (resp.tokens_size() == 0) {
    std::printf("no live join tokens (`skein token create` makes one)\n");
    return kExitOk;
  }
  Table t({{"ID"}, {"EXPIRES"}, {"USES", true}, {"DESCRIPTION"}});
  for (const auto& tok : resp.tokens()) {
    t.add_row({tok.id(), utc_ms(tok.expires_unix_ms()), std::to_string(tok.uses()),
               tok.description().empty() ? "-" : tok.description()});
  }
  std::fputs(t.render().c_str(), stdout);
  return kExitOk;
}

int run_revoke(const CommandContext& ctx, const std::string& id) {
  auto client = Client::connect(ctx.opts);
  if (!client.ok()) {
    return fail("token revoke", client.status());
  }
  skein::v1::RevokeTokenRequest req;
  req.set_id(id);
  skein::v1::RevokeTokenResponse resp;
  auto rpc = client->unary_context();
  if (grpc::Status st = client->stub().RevokeToken(rpc.get(), req, &resp); !st.ok()) {
    return fail("token revoke", client->explain(st));
  }
  std::printf("join token %s revoked\n", id.substr(0, id.find('.')).c_str());
  return kExitOk;
}

}  // namespace

std::string join_address(const std::string& advertised) {
  // An advertised bare host gets the well-known port.
  if (advertised.find(':') == std::string::npos) {
    return absl::StrCat(advertised, ":", kDefaultPort);
  }
  return advertised;
}

void add_token(CLI::App& app, CommandContext& ctx) {
  auto* cmd = app.add_subcommand(
      "token",
      "Join tokens for new hosts (admin): create, list, revoke. A token lets one host "
      "get a node certificate with `skein join`.");
  cmd->require_subcommand(1);
  auto create = std::make_shared<CreateArgs>();
  auto* c = cmd->add_subcommand("create", "Make a join token and print the `skein join` command");
  c->add_option("--ttl", create->ttl_seconds, "How long it is valid, e.g. 30m, 24h, 7d (max 30d)")
      ->transform(CLI::AsNumberWithUnit(
          std::map<std::string, std::int64_t>{{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}},
          CLI::AsNumberWithUnit::CASE_SENSITIVE))
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{30 * 86400}))
      ->default_str("24h");
  c->add_option("--description", create->description, "Note shown by `skein token list`");
  c->add_flag("--print-token", create->print_only, "Print only the token (for scripts)");
  c->callback([&ctx, create] { ctx.exit_code = run_create(ctx, *create); });
  auto* l = cmd->add_subcommand("list", "List live join tokens (their secrets are not kept)");
  l->callback([&ctx] { ctx.exit_code = run_list(ctx); });
  auto id = std::make_shared<std::string>();
  auto* r = cmd->add_subcommand("revoke", "Revoke a join token so no further host can use it");
  r->add_option("ID", *id, "The token's id (the part before the dot) or the whole token")
      ->required();
  r->callback([&ctx, id] { ctx.exit_code = run_revoke(ctx, *id); });
}

}  // namespace skein::cli
