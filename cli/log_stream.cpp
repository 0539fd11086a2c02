#include "log_stream.hpp"

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <map>
#include <string_view>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace skein::cli {
namespace {

// Writes chunks as the header describes. Owned by one print_job_log call.
class LogPrinter {
 public:
  explicit LogPrinter(const LogPrintOptions& options) : options_(options) {}

  void chunk(const skein::v1::LogChunk& c) {
    if (!options_.node.empty() && !c.node_id().empty() && c.node_id() != options_.node) {
      return;
    }
    const std::string& d = c.data();
    if (c.stream() == skein::v1::LOG_STREAM_SYSTEM) {
      end_line(err_);
      std::fprintf(stderr, "[skein] %s%s", d.c_str(), (!d.empty() && d.back() == '\n') ? "" : "\n");
      err_.mid_line = false;
      return;
    }
    Out& out = c.stream() == skein::v1::LOG_STREAM_STDERR ? err_ : out_;
    const std::string label = label_of(c);
    if (label.empty()) {
      write(out, d);
      return;
    }
    // Labelled: whole lines only; the rest waits for its newline.
    std::string& partial = partial_[{label, c.pid(), out.file == stderr}];
    std::string_view rest = d;
    for (auto nl = rest.find('\n'); nl != std::string_view::npos; nl = rest.find('\n')) {
      partial.append(rest.substr(0, nl + 1));
      rest.remove_prefix(nl + 1);
      end_line(out);
      write(out, label + partial);
      partial.clear();
    }
    partial.append(rest);
  }

  // Unfinished labelled lines, with a newline added; at the end of the stream.
  void finish() {
    for (auto& [key, partial] : partial_) {
      if (!partial.empty()) {
        Out& out = std::get<2>(key) ? err_ : out_;
        end_line(out);
        write(out, std::get<0>(key) + partial + "\n");
      }
    }
    partial_.clear();
    std::fflush(stdout);
  }

 private:
  struct Out {
    std::FILE* file;
    bool mid_line = false;  // the last byte written was not a newline
  };

  std::string label_of(const skein::v1::LogChunk& c) const {
    if (options_.labels == LogLabels::kNone || c.node_id().empty()) {
      return "";
    }
    const bool driver = c.source() == skein::v1::LOG_SOURCE_DRIVER;
    if (driver && options_.labels == LogLabels::kAuto) {
      return "";
    }
    return absl::StrCat("[", c.node_id(), driver ? " driver] " : " task] ");
  }

  static void write(Out& out, std::string_view d) {
    if (d.empty()) {
      return;
    }
    std::fwrite(d.data(), 1, d.size(), out.file);
    out.mid_line = d.back() != '\n';
    if (out.file == stdout) {
      std::fflush(stdout);
    }
  }

  // A labelled line never starts in the middle of an unlabelled one.
  static void end_line(Out& out) {
    if (out.mid_line) {
      write(out, "\n");
    }
  }

  const LogPrintOptions& options_;
  Out out_{stdout};
  Out err_{stderr};
  // (label, pid, stderr?) -> its unfinished line.
  std::map<std::tuple<std::string, std::int32_t, bool>, std::string> partial_;
};

}  // namespace

absl::StatusOr<std::optional<skein::v1::JobInfo>> print_job_log(Client& client,
                                                                std::uint64_t job_id, bool follow,
                                                                const LogPrintOptions& options) {
  grpc::ClientContext ctx;  // no deadline: a followed job may run for hours
  skein::v1::StreamLogsRequest req;
  req.set_job_id(job_id);
  req.set_follow(follow);
  auto reader = client.stub().StreamLogs(&ctx, req);
  skein::v1::StreamLogsResponse msg;
  std::optional<skein::v1::JobInfo> final_job;
  LogPrinter printer(options);
  while (reader->Read(&msg)) {
    if (msg.has_chunk()) {
      printer.chunk(msg.chunk());
    }
    if (msg.has_final_job()) {
      final_job = msg.final_job();
    }
  }
  printer.finish();
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
