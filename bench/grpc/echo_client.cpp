// echo_client: the client half of the bare gRPC unary baseline (issue 5,
// latency target): CALLS sequential unary Echo calls on one channel, each with
// a deadline, after WARMUP unmeasured ones (connection setup, first-call
// allocations). Each call is timed with the steady clock from just before the
// stub call to its return; the reply must carry the request's sequence number.
//
// With --mode stream (or both, the default) it also times CALLS sequential
// ping-pongs (write one message, read its echo) on one bidirectional stream:
// the floor of one hop pair on the kind of stream Skein's control plane uses.
//
// Usage: echo_client --target 127.0.0.1:PORT [--calls 2000] [--warmup 200]
//                    [--mode unary|stream|both]
// Output: "grpc latency calls=N median_us=... p99_us=... min_us=... mean_us=..."
// for unary calls, "grpc stream_latency ..." for the stream (the summary of
// bench/cluster/latency_summary.hpp). Exit 1 on any failed call.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "bench/grpc/echo.grpc.pb.h"
#include "cluster/latency_summary.hpp"

namespace {

// Generous: a loopback call takes well under a millisecond; a call that takes
// this long means the server is gone, and the run fails instead of hanging.
constexpr auto kCallDeadline = std::chrono::seconds(5);

// 8 bytes, the size of a tiny task's encoded argument (one integer).
constexpr char kPayload[] = "12345678";

bool one_call(skein::bench::Echo::Stub& stub, std::uint64_t seq) {
  skein::bench::EchoMessage request;
  request.set_seq(seq);
  request.set_payload(kPayload, sizeof(kPayload) - 1);
  skein::bench::EchoMessage reply;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  const grpc::Status status = stub.Echo(&context, request, &reply);
  if (!status.ok()) {
    std::fprintf(stderr, "echo_client: call %llu failed: %d %s\n",
                 static_cast<unsigned long long>(seq), static_cast<int>(status.error_code()),
                 status.error_message().c_str());
    return false;
  }
  if (reply.seq() != seq) {
    std::fprintf(stderr, "echo_client: call %llu got reply %llu\n",
                 static_cast<unsigned long long>(seq),
                 static_cast<unsigned long long>(reply.seq()));
    return false;
  }
  return true;
}

// Deadline of the whole stream run: generous, but a stuck server fails it.
constexpr auto kStreamDeadline = std::chrono::minutes(10);

// Times `calls` ping-pongs after `warmup` ones on one stream; false on failure.
bool stream_pingpong(skein::bench::Echo::Stub& stub, long warmup, long calls,
                     std::vector<std::int64_t>& samples_ns) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kStreamDeadline);
  std::unique_ptr<grpc::ClientReaderWriter<skein::bench::EchoMessage, skein::bench::EchoMessage>>
      stream = stub.Stream(&context);
  skein::bench::EchoMessage request;
  request.set_payload(kPayload, sizeof(kPayload) - 1);
  skein::bench::EchoMessage reply;
  for (long i = 0; i < warmup + calls; ++i) {
    const std::uint64_t seq = static_cast<std::uint64_t>(i) + 1;
    request.set_seq(seq);
    const auto t0 = std::chrono::steady_clock::now();
    if (!stream->Write(request) || !stream->Read(&reply)) {
      std::fprintf(stderr, "echo_client: stream broke at message %llu: %s\n",
                   static_cast<unsigned long long>(seq), stream->Finish().error_message().c_str());
      return false;
    }
    const auto t1 = std::chrono::steady_clock::now();
    if (reply.seq() != seq) {
      std::fprintf(stderr, "echo_client: stream message %llu got %llu\n",
                   static_cast<unsigned long long>(seq),
                   static_cast<unsigned long long>(reply.seq()));
      return false;
    }
    if (i >= warmup) {
      samples_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    }
  }
  stream->WritesDone();
  const grpc::Status status = stream->Finish();
  if (!status.ok()) {
    std::fprintf(stderr, "echo_client: stream ended with %d %s\n",
                 static_cast<int>(status.error_code()), status.error_message().c_str());
    return false;
  }
  return true;
}

bool parse_count(const char* text, long& out) {
  char* end = nullptr;
  out = std::strtol(text, &end, 10);
  return end != text && *end == '\0' && out >= 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string target;
  long calls = 2000;
  long warmup = 200;
  std::string mode = "both";
  bool ok = argc % 2 == 1;  // flags come in pairs
  for (int i = 1; ok && i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--target") {
      target = argv[i + 1];
    } else if (flag == "--calls") {
      ok = parse_count(argv[i + 1], calls);
    } else if (flag == "--warmup") {
      ok = parse_count(argv[i + 1], warmup);
    } else if (flag == "--mode") {
      mode = argv[i + 1];
      ok = mode == "unary" || mode == "stream" || mode == "both";
    } else {
      ok = false;
    }
  }
  if (!ok || target.empty() || calls == 0) {
    std::fprintf(stderr,
                 "usage: %s --target HOST:PORT [--calls N>0] [--warmup N] "
                 "[--mode unary|stream|both]\n",
                 argv[0]);
    return 2;
  }

  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  std::unique_ptr<skein::bench::Echo::Stub> stub = skein::bench::Echo::NewStub(channel);

  if (mode != "stream") {
    std::uint64_t seq = 0;
    for (long i = 0; i < warmup; ++i) {
      if (!one_call(*stub, ++seq)) {
        return 1;
      }
    }
    std::vector<std::int64_t> samples_ns;
    samples_ns.reserve(static_cast<std::size_t>(calls));
    for (long i = 0; i < calls; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      if (!one_call(*stub, ++seq)) {
        return 1;
      }
      const auto t1 = std::chrono::steady_clock::now();
      samples_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    }
    const skein::bench::LatencySummary s = skein::bench::summarize(samples_ns);
    std::printf("grpc latency calls=%zu median_us=%.2f p99_us=%.2f min_us=%.2f mean_us=%.2f\n",
                s.count, s.median_us, s.p99_us, s.min_us, s.mean_us);
    std::fflush(stdout);
  }
  if (mode != "unary") {
    std::vector<std::int64_t> samples_ns;
    samples_ns.reserve(static_cast<std::size_t>(calls));
    if (!stream_pingpong(*stub, warmup, calls, samples_ns)) {
      return 1;
    }
    const skein::bench::LatencySummary s = skein::bench::summarize(samples_ns);
    std::printf(
        "grpc stream_latency calls=%zu median_us=%.2f p99_us=%.2f min_us=%.2f mean_us=%.2f\n",
        s.count, s.median_us, s.p99_us, s.min_us, s.mean_us);
  }
  return 0;
}
