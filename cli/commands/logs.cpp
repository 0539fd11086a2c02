// skein logs JOB [--follow] [--node NODE] [--no-prefix | --prefix-all]: a
// job's captured stdout and stderr, from every node (log_stream.hpp).
#include <cstdio>

#include "client.hpp"
#include "commands/commands.hpp"
#include "log_stream.hpp"

namespace skein::cli {
namespace {

int run_logs(const CommandContext& ctx, std::uint64_t job_id, bool follow,
             const LogPrintOptions& options) {
  auto client = Client::connect(ctx.opts);
  if (!client.ok()) {
    return fail("logs", client.status());
  }
  auto final_job = print_job_log(*client, job_id, follow, options);
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
      "Print a job's output from every node (stdout to stdout, stderr to stderr); lines of "
      "task workers are labelled \"[NODE task] \". With --follow, keep printing until the job "
      "ends.");
  cmd->add_option("job", *id, "Job id")->required()->check(job_id_validator());
  cmd->add_flag("--follow,-f", *follow, "Keep streaming until the job is finished");
  auto options = std::make_shared<LogPrintOptions>();
  auto raw = std::make_shared<bool>(false);
  auto all = std::make_shared<bool>(false);
  cmd->add_option("--node", options->node, "Only the output of processes on this node (node id)");
  auto* raw_flag = cmd->add_flag(
      "--no-prefix,--raw", *raw,
      "Print every process's output as it was printed, without \"[node-2 task] \" labels");
  cmd->add_flag("--prefix-all", *all, "Label the driver's lines too (\"[node-1 driver] \")")
      ->excludes(raw_flag);
  cmd->callback([&ctx, id, follow, options, raw, all] {
    options->labels = *raw ? LogLabels::kNone : (*all ? LogLabels::kAll : LogLabels::kAuto);
    ctx.exit_code = run_logs(ctx, *id, *follow, *options);
  });
}

}  // namespace skein::cli
