// skein submit BINARY [-- ARGS...]: uploads a job binary and starts a job.
//
// The binary is hashed locally (SHA-256), streamed to the coordinator in
// 1 MiB chunks (UploadBinary verifies size and hash before storing it), then
// submitted with an idempotency key: if the SubmitJob reply is lost and the
// call is retried, the coordinator returns the same job instead of starting
// a second one. Before the upload the binary is run once with
// SKEIN_LIST_REMOTES=1 (bounded, remote_list.hpp) to list its SKEIN_REMOTE
// functions for the coordinator; if that fails the job is submitted without
// the list, with a warning. With --wait the command follows the job's output and exits
// with the job's own exit code (128+N if signal N killed it).
#include <grpcpp/grpcpp.h>
#include <openssl/rand.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client.hpp"
#include "commands/commands.hpp"
#include "log_stream.hpp"
#include "remote_list.hpp"
#include "skein/common/sha256.hpp"

namespace skein::cli {
namespace {

constexpr std::size_t kChunkBytes = 1 << 20;  // wire.md: chunks are <= 1 MiB
constexpr int kSubmitAttempts = 3;

struct SubmitArgs {
  std::string binary;
  std::vector<std::string> args;
  bool wait = false;
  std::string idempotency_key;
  std::string pin;
  std::string name;
  bool quiet = false;
};

std::string random_key() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof(b)) != 1) {
    return absl::StrCat(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  return absl::BytesToHexString(std::string(reinterpret_cast<char*>(b), sizeof(b)));
}

absl::Status upload(Client& client, const std::string& path, const std::string& sha,
                    std::uint64_t size, const std::string& name) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  grpc::ClientContext ctx;
  // Generous for big binaries on a slow link: a base plus 1 s per 4 MiB.
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30) +
                   std::chrono::seconds(size / (4 << 20)));
  skein::v1::UploadBinaryResponse resp;
  auto writer = client.stub().UploadBinary(&ctx, &resp);
  std::string buf(kChunkBytes, '\0');
  bool first = true;
  std::uint64_t sent = 0;
  while (sent < size || first) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    skein::v1::UploadBinaryRequest req;
    if (first) {
      req.set_sha256(sha);
      req.set_total_size(size);
      req.set_name(name);
      first = false;
    }
    req.set_data(buf.data(), n);
    sent += n;
    if (!writer->Write(req)) {
      break;  // the server ended the call early; Finish() says why
    }
    if (n == 0) {
      break;
    }
  }
  writer->WritesDone();
  grpc::Status st = writer->Finish();
  if (!st.ok()) {
    return client.explain(st);
  }
  return absl::OkStatus();
}

int run_submit(const CommandContext& ctx, const SubmitArgs& a) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(a.binary, ec);
  if (ec) {
    return fail("submit", absl::NotFoundError(absl::StrCat(a.binary, ": ", ec.message())));
  }
  if (size == 0) {
    return fail("submit", absl::InvalidArgumentError(absl::StrCat(a.binary, " is empty")));
  }
  auto sha = sha256_file(a.binary);
  if (!sha.ok()) {
    return fail("submit", sha.status());
  }
  // Listed here, before anything is uploaded: a spawn of a name the binary
  // does not register then fails at once, at the coordinator.
  auto remotes = list_remote_functions(a.binary);
  if (!remotes.ok() && !a.quiet) {
    std::fprintf(stderr,
                 "skein submit: warning: remote functions not listed (%s); unknown spawn names "
                 "will fail on the workers instead of at once\n",
                 std::string(remotes.status().message()).c_str());
  }
  auto client = Client::connect(ctx.opts);
  if (!client.ok()) {
    return fail("submit", client.status());
  }
  const std::string name =
      a.name.empty() ? std::filesystem::path(a.binary).filename().string() : a.name;
  if (absl::Status s = upload(*client, a.binary, *sha, size, name); !s.ok()) {
    return fail("submit", s);
  }
  skein::v1::SubmitJobRequest req;
  req.set_binary_sha256(*sha);
  for (const auto& arg : a.args) {
    req.add_args(arg);
  }
  req.set_idempotency_key(a.idempotency_key.empty() ? random_key() : a.idempotency_key);
  req.set_pinned_node(a.pin);
  req.set_name(name);
  if (remotes.ok()) {
    req.set_remote_functions_known(true);
    for (auto& f : *remotes) {
      req.add_remote_functions(std::move(f));
    }
  }
  skein::v1::SubmitJobResponse resp;
  grpc::Status st;
  for (int attempt = 1; attempt <= kSubmitAttempts; ++attempt) {
    auto rpc = client->unary_context();
    st = client->stub().SubmitJob(rpc.get(), req, &resp);
    // Only a lost reply is worth a retry, and the idempotency key makes it safe.
    if (st.ok() || (st.error_code() != grpc::StatusCode::UNAVAILABLE &&
                    st.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED)) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));
  }
  if (!st.ok()) {
    return fail("submit", client->explain(st));
  }
  const auto& job = resp.job();
  if (!a.quiet) {
    std::fprintf(stderr, "job %llu %s (%s)%s\n", static_cast<unsigned long long>(job.job_id()),
                 resp.deduplicated() ? "already submitted" : "submitted",
                 job.driver_node().empty() ? "waiting for a node"
                                           : absl::StrCat("driver on ", job.driver_node()).c_str(),
                 resp.deduplicated() ? " [same idempotency key]" : "");
  }
  if (!a.wait) {
    std::printf("%llu\n", static_cast<unsigned long long>(job.job_id()));
    return kExitOk;
  }
  auto final_job = print_job_log(*client, job.job_id(), /*follow=*/true);
  if (!final_job.ok()) {
    return fail("submit", final_job.status());
  }
  skein::v1::JobInfo done;
  if (final_job->has_value()) {
    done = **final_job;
  } else {
    skein::v1::GetJobRequest g;
    g.set_job_id(job.job_id());
    skein::v1::GetJobResponse gr;
    auto rpc = client->unary_context();
    grpc::Status gs = client->stub().GetJob(rpc.get(), g, &gr);
    if (!gs.ok()) {
      return fail("submit", client->explain(gs));
    }
    done = gr.job();
  }
  if (!a.quiet && done.state() != skein::v1::JOB_STATE_SUCCEEDED) {
    std::fprintf(stderr, "job %llu %s%s%s\n", static_cast<unsigned long long>(done.job_id()),
                 state_name(done.state()).c_str(), done.error().empty() ? "" : ": ",
                 done.error().c_str());
  }
  return exit_code_of(done);
}

}  // namespace

void add_submit(CLI::App& app, CommandContext& ctx) {
  auto a = std::make_shared<SubmitArgs>();
  auto* cmd = app.add_subcommand(
      "submit",
      "Upload a job binary (a program linked with libskein) and run it on the cluster. Arguments "
      "after `--` are passed to the job. Prints the job id (or, with --wait, the job's output).");
  cmd->add_option("binary", a->binary, "Path of the job binary")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("args", a->args, "Arguments for the job (after --)");
  cmd->add_flag(
      "--wait,-w", a->wait,
      "Follow the job's output until it ends; exit with its exit code (128+N for signal N)");
  cmd->add_option("--idempotency-key", a->idempotency_key,
                  "Resubmitting with the same key returns the same job (default: random per call)");
  cmd->add_option("--pin", a->pin, "Run the driver on this node id (see `skein nodes`)");
  cmd->add_option("--name", a->name, "Display name (default: the binary's file name)");
  cmd->add_flag("--quiet,-q", a->quiet, "No status lines on stderr");
  cmd->callback([&ctx, a] { ctx.exit_code = run_submit(ctx, *a); });
}

}  // namespace skein::cli
