#include "log_stream.hpp"

#include <grpcpp/grpcpp.h>

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace skein::cli {

absl::StatusOr<std::optional<skein::v1::JobInfo>> print_job_log(Client& client,
                                                                std::uint64_t job_id, bool follow) {
  grpc::ClientContext ctx;  // no deadline: a followed job may run for hours
  skein::v1::StreamLogsRequest req;
  req.set_job_id(job_id);
  req.set_follow(follow);
  auto reader = client.stub().StreamLogs(&ctx, req);
  skein::v1::StreamLogsResponse msg;
  std::optional<skein::v1::JobInfo> final_job;
  while (reader->Read(&msg)) {
    if (msg.has_chunk()) {
      const auto& c = msg.chunk();
      const std::string& d = c.data();
      switch (c.stream()) {
        case skein::v1::LOG_STREAM_STDERR:
          std::fwrite(d.data(), 1, d.size(), stderr);
          break;
        case skein::v1::LOG_STREAM_SYSTEM:
          std::fprintf(stderr, "[skein] %s%s", d.c_str(),
                       (!d.empty() && d.back() == '\n') ? "" : "\n");
          break;
        default:
          std::fwrite(d.data(), 1, d.size(), stdout);
          std::fflush(stdout);
          break;
      }
    }
    if (msg.has_final_job()) {
      final_job = msg.final_job();
    }
  }
  std::fflush(stdout);
  grpc::Status st = reader->Finish();
  if (!st.ok()) {
    return client.explain(st);
  }
  return final_job;
}

int exit_code_of(const skein::v1::JobInfo& job) {
  switch (job.state()) {
    case skein::v1::JOB_STATE_SUCCEEDED:
      return 0;
    case skein::v1::JOB_STATE_FAILED:
      if (job.term_signal() > 0) {
        return 128 + job.term_signal();
      }
      return job.exit_code() != 0 ? job.exit_code() : 1;
    default:
      return 1;
  }
}

std::string state_name(skein::v1::JobState state) {
  std::string n = skein::v1::JobState_Name(state);
  const std::string prefix = "JOB_STATE_";
  return n.rfind(prefix, 0) == 0 ? n.substr(prefix.size()) : n;
}

}  // namespace skein::cli
