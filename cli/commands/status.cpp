// skein status JOB: everything the coordinator knows about one job.
#include <grpcpp/grpcpp.h>

#include <cstdio>

#include "absl/strings/str_join.h"
#include "client.hpp"
#include "commands/commands.hpp"
#include "log_stream.hpp"
#include "table.hpp"

namespace skein::cli {

std::string job_result(const skein::v1::JobInfo& j);  // jobs.cpp
std::int64_t job_duration_ms(const skein::v1::JobInfo& j);

namespace {

int run_status(const CommandContext& ctx, std::uint64_t job_id) {
  auto client = Client::connect(ctx.opts);
  if (!client.ok()) {
    return fail("status", client.status());
  }
  skein::v1::GetJobRequest req;
  req.set_job_id(job_id);
  skein::v1::GetJobResponse resp;
  auto rpc = client->unary_context();
  grpc::Status st = client->stub().GetJob(rpc.get(), req, &resp);
  if (!st.ok()) {
    return fail("status", client->explain(st));
  }
  const auto& j = resp.job();
  auto row = [](const char* k, const std::string& v) { std::printf("%-12s %s\n", k, v.c_str()); };
  row("job", std::to_string(j.job_id()));
  row("name", j.name());
  row("state",
      state_name(j.state()) + (j.cancel_requested() && j.state() == skein::v1::JOB_STATE_RUNNING
                                   ? " (cancel requested)"
                                   : ""));
  row("result", job_result(j));
  if (!j.error().empty()) {
    row("error", j.error());
  }
  row("node", j.driver_node().empty() ? "-" : j.driver_node());
  row("binary",
      j.binary_sha256() + " (" + human_bytes(static_cast<std::int64_t>(j.binary_size())) + ")");
  row("args", j.args().empty() ? "-" : absl::StrJoin(j.args(), " "));
  row("remote fns", j.remote_functions_known()
                        ? std::to_string(j.remote_functions_size()) + " listed at submit"
                        : "not listed (any name is placed)");
  row("submitted", clock_time(j.submitted_unix_ms()));
  row("started", clock_time(j.started_unix_ms()));
  row("finished", clock_time(j.finished_unix_ms()));
  row("runtime", human_duration_ms(job_duration_ms(j)));
  if (!j.idempotency_key().empty()) {
    row("key", j.idempotency_key());
  }
  return kExitOk;
}

}  // namespace

void add_status(CLI::App& app, CommandContext& ctx) {
  auto id = std::make_shared<std::uint64_t>(0);
  auto* cmd =
      app.add_subcommand("status", "Show one job: state, result or error, node, binary, times.");
  cmd->add_option("job", *id, "Job id (see `skein jobs`)")->required()->check(job_id_validator());
  cmd->callback([&ctx, id] { ctx.exit_code = run_status(ctx, *id); });
}

}  // namespace skein::cli
