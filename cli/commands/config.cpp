// skein config: the contexts of the CLI's config file (config_file.hpp), as
// `kubectl config` does: get-contexts, current-context, use-context, import.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "client.hpp"
#include "commands/commands.hpp"
#include "config_file.hpp"
#include "table.hpp"

namespace skein::cli {
namespace {

absl::StatusOr<ConfigFile> load_or_empty(const std::string& path) {
  auto f = ConfigFile::load(path);
  if (!f.ok() && f.status().code() == absl::StatusCode::kNotFound) {
    return ConfigFile{};
  }
  return f;
}

int run_get(const CommandContext& ctx) {
  const std::string path = ctx.opts.resolved_config();
  auto f = ConfigFile::load(path);
  if (!f.ok()) {
    return fail("config get-contexts", f.status());
  }
  Table t({{"CURRENT"}, {"NAME"}, {"SERVER"}, {"ROLE"}});
  for (const auto& [name, c] : f->contexts) {
    t.add_row({name == f->current ? "*" : "", name, c.server, c.role.empty() ? "-" : c.role});
  }
  std::fputs(t.render().c_str(), stdout);
  return kExitOk;
}

int run_use(const CommandContext& ctx, const std::string& name) {
  const std::string path = ctx.opts.resolved_config();
  auto f = ConfigFile::load(path);
  if (!f.ok()) {
    return fail("config use-context", f.status());
  }
  if (f->contexts.count(name) == 0) {
    return fail("config use-context",
                absl::NotFoundError(absl::StrCat("no context '", name, "' in ", path,
                                                 " (`skein config get-contexts` lists them)")));
  }
  f->current = name;
  if (absl::Status s = f->save(path); !s.ok()) {
    return fail("config use-context", s);
  }
  std::printf("switched to context %s\n", name.c_str());
  return kExitOk;
}

int run_import(const CommandContext& ctx, const std::string& from) {
  auto in = ConfigFile::load(from);
  if (!in.ok()) {
    return fail("config import", in.status());
  }
  const std::string path = ctx.opts.resolved_config();
  auto f = load_or_empty(path);
  if (!f.ok()) {
    return fail("config import", f.status());
  }
  for (const auto& [name, c] : in->contexts) {
    f->contexts[name] = c;
    std::printf("imported context %s (%s)\n", name.c_str(), c.server.c_str());
  }
  if (!in->current.empty()) {
    f->current = in->current;
  }
  if (absl::Status s = f->save(path); !s.ok()) {
    return fail("config import", s);
  }
  std::printf("current context: %s\n", f->current.c_str());
  return kExitOk;
}

}  // namespace

void add_config(CLI::App& app, CommandContext& ctx) {
  auto* cmd =
      app.add_subcommand("config",
                         "The CLI's cluster contexts (address, CA, credential), as kubectl's: "
                         "get-contexts, current-context, use-context NAME, import FILE");
  cmd->require_subcommand(1);
  cmd->add_subcommand("get-contexts", "List the contexts; * marks the current one")
      ->callback([&ctx] { ctx.exit_code = run_get(ctx); });
  cmd->add_subcommand("current-context", "Print the current context's name")->callback([&ctx] {
    auto f = ConfigFile::load(ctx.opts.resolved_config());
    if (!f.ok()) {
      ctx.exit_code = fail("config current-context", f.status());
      return;
    }
    std::printf("%s\n", f->current.c_str());
    ctx.exit_code = kExitOk;
  });
  auto name = std::make_shared<std::string>();
  auto* use = cmd->add_subcommand("use-context", "Make NAME the current context");
  use->add_option("NAME", *name, "A context from `skein config get-contexts`")->required();
  use->callback([&ctx, name] { ctx.exit_code = run_use(ctx, *name); });
  auto file = std::make_shared<std::string>();
  auto* imp = cmd->add_subcommand(
      "import",
      "Merge the contexts of FILE (from `skein user create`) into your config and make "
      "its context current");
  imp->add_option("FILE", *file, "A config file")->required()->check(CLI::ExistingFile);
  imp->callback([&ctx, file] { ctx.exit_code = run_import(ctx, *file); });
}

}  // namespace skein::cli
