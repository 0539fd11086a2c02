// skein cancel JOB: stops a job. A pending job is cancelled at once; a
// running one gets SIGTERM on its process group and SIGKILL after the grace
// period, and shows CANCELLED once its node reports the exit (--wait waits
// for that).
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "client.hpp"
#include "commands/commands.hpp"
#include "log_stream.hpp"

namespace skein::cli {
namespace {

using Clock = std::chrono::steady_clock;

int run_cancel(const CommandContext& ctx, std::uint64_t job_id, const std::string& reason,
               bool wait, int wait_ms) {
  auto client = Client::connect(ctx.opts);
  if (!client.ok()) {
    return fail("cancel", client.status());
  }
  skein::v1::CancelJobRequest req;
  req.set_job_id(job_id);
  req.set_reason(reason);
  skein::v1::CancelJobResponse resp;
  auto rpc = client->unary_context();
  grpc::Status st = client->stub().CancelJob(rpc.get(), req, &resp);
  if (!st.ok()) {
    return fail("cancel", client->explain(st));
  }
  skein::v1::JobInfo job = resp.job();
  const auto deadline = Clock::now() + std::chrono::milliseconds(wait_ms);
  while (wait && job.state() == skein::v1::JOB_STATE_RUNNING && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    skein::v1::GetJobRequest g;
    g.set_job_id(job_id);
    skein::v1::GetJobResponse gr;
    auto grpc_ctx = client->unary_context();
    grpc::Status gs = client->stub().GetJob(grpc_ctx.get(), g, &gr);
    if (!gs.ok()) {
      return fail("cancel", client->explain(gs));
    }
    job = gr.job();
  }
  std::printf("job %llu %s\n", static_cast<unsigned long long>(job_id),
              job.state() == skein::v1::JOB_STATE_RUNNING ? "cancel requested"
                                                          : state_name(job.state()).c_str());
  if (wait && job.state() == skein::v1::JOB_STATE_RUNNING) {
    return fail("cancel", absl::DeadlineExceededError("the job has not stopped yet"));
  }
  return kExitOk;
}

}  // namespace

void add_cancel(CLI::App& app, CommandContext& ctx) {
  auto id = std::make_shared<std::uint64_t>(0);
  auto reason = std::make_shared<std::string>("cancelled by user");
  auto wait = std::make_shared<bool>(false);
  auto wait_ms = std::make_shared<int>(30000);
  auto* cmd = app.add_subcommand(
      "cancel", "Cancel a job: its processes get SIGTERM, then SIGKILL after a grace period.");
  cmd->add_option("job", *id, "Job id")->required()->check(job_id_validator());
  cmd->add_option("--reason", *reason, "Recorded in the job's error")->capture_default_str();
  cmd->add_flag("--wait,-w", *wait, "Return only once the job has stopped");
  cmd->add_option("--wait-ms", *wait_ms, "Give up waiting after this long")->capture_default_str();
  cmd->callback([&ctx, id, reason, wait, wait_ms] {
    ctx.exit_code = run_cancel(ctx, *id, *reason, *wait, *wait_ms);
  });
}

}  // namespace skein::cli
