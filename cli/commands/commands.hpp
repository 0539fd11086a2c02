// The `skein` subcommands, one file per verb. Each add_* function registers
// its subcommand on the app; the callback runs the verb and stores the
// process exit code in ctx.exit_code (0, kExitError, or a job's own code for
// `submit --wait`).
#pragma once

#include <CLI/CLI.hpp>

#include "options.hpp"

namespace skein::cli {

struct CommandContext {
  GlobalOptions opts;
  int exit_code = 0;
};

void add_up(CLI::App& app, CommandContext& ctx);
void add_down(CLI::App& app, CommandContext& ctx);
void add_join(CLI::App& app, CommandContext& ctx);
void add_submit(CLI::App& app, CommandContext& ctx);
void add_jobs(CLI::App& app, CommandContext& ctx);
void add_status(CLI::App& app, CommandContext& ctx);
void add_logs(CLI::App& app, CommandContext& ctx);
void add_cancel(CLI::App& app, CommandContext& ctx);
void add_nodes(CLI::App& app, CommandContext& ctx);
void add_stats(CLI::App& app, CommandContext& ctx);

}  // namespace skein::cli
