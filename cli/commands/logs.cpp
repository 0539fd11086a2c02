// skein logs JOB [--follow]: a job's captured stdout and stderr.
#include <cstdio>

#include "client.hpp"
#include "commands/commands.hpp"
#include "log_stream.hpp"

namespace skein::cli {
namespace {

int run_logs(const CommandContext& ctx, std::uint64_t job_id, bool follow) {
  auto client = Client::connect(ctx.opts);
  if (!client.ok()) {
    return fail("logs", client.status());
  }
  auto final_job = print_job_log(*client, job_id, follow);
  if (!final_job.ok()) {
    return fail("logs", final_job.status());
  }
  return kExitOk;
}

}  // namespace

void add_logs(CLI::App& app, CommandContext& ctx) {
  auto id = std::make_shared<std::uint64_t>(0);
  auto follow = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "logs",
      "Print a job's output (stdout to stdout, stderr to stderr). With --follow, keep printing "
      "until the job ends.");
  cmd->add_option("job", *id, "Job id")->required()->check(job_id_validator());
  cmd->add_flag("--follow,-f", *follow, "Keep streaming until the job is finished");
  cmd->callback([&ctx, id, follow] { ctx.exit_code = run_logs(ctx, *id, *follow); });
}

}  // namespace skein::cli
