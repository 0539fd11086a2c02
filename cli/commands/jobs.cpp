// skein jobs: the job table, newest first.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "client.hpp"
#include "commands/commands.hpp"
#include "log_stream.hpp"
#include "table.hpp"

namespace skein::cli {

std::string job_result(const skein::v1::JobInfo& j) {
  if (j.term_signal() > 0) {
    return absl::StrCat("signal ", j.term_signal());
  }
  if (j.finished_unix_ms() > 0 && j.state() != skein::v1::JOB_STATE_CANCELLED) {
    return absl::StrCat("exit ", j.exit_code());
  }
  return "-";
}

std::int64_t job_duration_ms(const skein::v1::JobInfo& j) {
  if (j.started_unix_ms() == 0) {
    return -1;
  }
  const std::int64_t end = j.finished_unix_ms() > 0
                               ? j.finished_unix_ms()
                               : std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
  return end - j.started_unix_ms();
}

namespace {

int run_jobs(const CommandContext& ctx, int limit) {
  auto client = Client::connect(ctx.opts);
  if (!client.ok()) {
    return fail("jobs", client.status());
  }
  skein::v1::ListJobsRequest req;
  req.set_limit(static_cast<std::uint32_t>(limit));
  skein::v1::ListJobsResponse resp;
  auto rpc = client->unary_context();
  grpc::Status st = client->stub().ListJobs(rpc.get(), req, &resp);
  if (!st.ok()) {
    return fail("jobs", client->explain(st));
  }
  Table t(
      {{"JOB", true}, {"NAME"}, {"STATE"}, {"NODE"}, {"RESULT"}, {"SUBMITTED"}, {"RUNTIME", true}});
  for (const auto& j : resp.jobs()) {
    t.add_row({std::to_string(j.job_id()), j.name(), state_name(j.state()),
               j.driver_node().empty() ? "-" : j.driver_node(), job_result(j),
               clock_time(j.submitted_unix_ms()), human_duration_ms(job_duration_ms(j))});
  }
  if (t.rows() == 0) {
    std::printf("no jobs\n");
    return kExitOk;
  }
  std::fputs(t.render().c_str(), stdout);
  return kExitOk;
}

}  // namespace

void add_jobs(CLI::App& app, CommandContext& ctx) {
  auto limit = std::make_shared<int>(50);
  auto* cmd =
      app.add_subcommand("jobs", "List jobs, newest first: state, driver node, result, runtime.");
  cmd->add_option("--limit", *limit, "Show at most this many jobs (0 = all)")
      ->capture_default_str();
  cmd->callback([&ctx, limit] { ctx.exit_code = run_jobs(ctx, *limit); });
}

}  // namespace skein::cli
