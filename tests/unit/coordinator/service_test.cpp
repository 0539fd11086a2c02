// skein-coordinator's services over a real gRPC server on 127.0.0.1:0, in
// process. The "agent" here is a plain gRPC client speaking the NodeGateway
// protocol of docs/wire.md, so every byte goes through the real server,
// credentials, reactors and Cluster.
#include <google/protobuf/descriptor.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "coordinator.hpp"
#include "skein/common/auth.hpp"
#include "skein/common/pki.hpp"
#include "skein/common/sha256.hpp"
#include "skein/v1/coordinator.grpc.pb.h"
#include "skein/v1/node.grpc.pb.h"
#include "temp_dir.hpp"

namespace skein::coordinator {
namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

constexpr char kToken[] = "5f1d0b9e3c7a42e8a6b4d2f0c8e6a4b25f1d0b9e3c7a42e8a6b4d2f0c8e6a4b2";
constexpr char kWrongToken[] = "0000000000000000000000000000000000000000000000000000000000000000";

std::chrono::system_clock::time_point in(milliseconds d) {
  return std::chrono::system_clock::now() + d;
}

std::string blob(size_t n, int seed) {
  std::string s(n, '\0');
  uint32_t x = static_cast<uint32_t>(seed) * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

// One raw call with an empty request message on any method of any service,
// as a bidi stream (every gRPC method is one at the HTTP/2 level).
grpc::Status raw_call(const std::shared_ptr<grpc::Channel>& ch, const std::string& method,
                      const std::string& bearer = "", const std::string& payload = "") {
  class Reactor : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    explicit Reactor(const std::string& payload) : body_(payload), req_(&body_, 1) {}
    void OnReadDone(bool ok) override {
      if (ok) {
        StartRead(&resp_);
      }
    }
    void OnDone(const grpc::Status& s) override { done_.set_value(s); }
    grpc::ByteBuffer* req() { return &req_; }
    grpc::ByteBuffer* resp() { return &resp_; }
    std::future<grpc::Status> result() { return done_.get_future(); }

   private:
    grpc::Slice body_;
    grpc::ByteBuffer req_;
    grpc::ByteBuffer resp_;
    std::promise<grpc::Status> done_;
  };
  grpc::GenericStub stub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(in(milliseconds(1500)));
  if (!bearer.empty()) {
    ctx.AddMetadata("authorization", "Bearer " + bearer);
  }
  Reactor r(payload);
  auto result = r.result();
  stub.PrepareBidiStreamingCall(&ctx, method, grpc::StubOptions(), &r);
  r.StartWriteLast(r.req(), grpc::WriteOptions());
  r.StartRead(r.resp());
  r.StartCall();
  return result.get();
}

std::vector<std::string> all_methods() {
  std::vector<std::string> out;
  for (const char* service : {"skein.v1.Coordinator", "skein.v1.NodeGateway"}) {
    const auto* sd = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    EXPECT_NE(sd, nullptr) << service;
    for (int i = 0; sd != nullptr && i < sd->method_count(); ++i) {
      out.push_back("/" + std::string(service) + "/" + sd->method(i)->name());
    }
  }
  return out;
}

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }
  void TearDown() override {
    if (coord_) {
      coord_->stop();
    }
  }

  void start(uint64_t max_binary_bytes = uint64_t{200} << 20) {
    CoordinatorConfig cfg;
    cfg.listen = "127.0.0.1:0";
    cfg.port_file = dir_.path() + "/port";
    cfg.cluster.data_dir = dir_.path() + "/data";
    cfg.cluster.membership = MembershipConfig{milliseconds(100), 5};
    cfg.cluster.max_binary_bytes = max_binary_bytes;
    cfg.cluster.recovery_window = milliseconds(0);  // restart tests check the fail-loudly mode
    auto c = Coordinator::start(cfg, kToken);
    ASSERT_TRUE(c.ok()) << c.status();
    coord_ = *std::move(c);
    auto ch = make_channel(coord_->address(), AuthConfig{kToken, {}});
    ASSERT_TRUE(ch.ok());
    channel_ = *ch;
    cli_ = v1::Coordinator::NewStub(channel_);
    gw_ = v1::NodeGateway::NewStub(channel_);
  }
  void restart() {
    coord_->stop();
    coord_.reset();
    start();
  }

  grpc::Status upload(const std::string& data, const std::string& sha, uint64_t size,
                      v1::UploadBinaryResponse* resp = nullptr, size_t chunk = 1 << 20) {
    grpc::ClientContext ctx;
    ctx.set_deadline(in(milliseconds(60000)));
    v1::UploadBinaryResponse local;
    auto w = cli_->UploadBinary(&ctx, resp ? resp : &local);
    for (size_t pos = 0; pos == 0 || pos < data.size(); pos += chunk) {
      v1::UploadBinaryRequest req;
      if (pos == 0) {
        req.set_sha256(sha);
        req.set_total_size(size);
        req.set_name("job.bin");
      }
      req.set_data(data.substr(pos, chunk));
      if (!w->Write(req)) {
        break;
      }
    }
    w->WritesDone();
    return w->Finish();
  }

  std::string upload_ok(const std::string& data) {
    std::string sha = sha256_hex(data);
    grpc::Status st = upload(data, sha, data.size());
    EXPECT_TRUE(st.ok()) << st.error_message();
    return sha;
  }

  absl::StatusOr<v1::SubmitJobResponse> submit(const std::string& sha, const std::string& key = "",
                                               std::vector<std::string> args = {},
                                               const std::string& pinned = "") {
    grpc::ClientContext ctx;
    ctx.set_deadline(in(milliseconds(5000)));
    v1::SubmitJobRequest req;
    req.set_binary_sha256(sha);
    req.set_idempotency_key(key);
    req.set_pinned_node(pinned);
    for (auto& a : args) {
      req.add_args(a);
    }
    v1::SubmitJobResponse resp;
    grpc::Status st = cli_->SubmitJob(&ctx, req, &resp);
    if (!st.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
    }
    return resp;
  }

  v1::JobInfo get_job(uint64_t id) {
    grpc::ClientContext ctx;
    ctx.set_deadline(in(milliseconds(5000)));
    v1::GetJobRequest req;
    req.set_job_id(id);
    v1::GetJobResponse resp;
    EXPECT_TRUE(cli_->GetJob(&ctx, req, &resp).ok());
    return resp.job();
  }

  v1::RegisterResponse register_node(int cpus = 2) {
    grpc::ClientContext ctx;
    ctx.set_deadline(in(milliseconds(5000)));
    v1::RegisterRequest req;
    req.mutable_resources()->set_cpus(cpus);
    req.set_hostname("test-host");
    v1::RegisterResponse resp;
    grpc::Status st = gw_->Register(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  // A minimal agent: one Connect stream driven synchronously by the test.
  struct Agent {
    std::unique_ptr<grpc::ClientContext> ctx = std::make_unique<grpc::ClientContext>();
    std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::CoordinatorMessage>> stream;
    v1::RegisterResponse reg;

    bool send(const v1::AgentMessage& m) { return stream->Write(m); }
    bool event(uint64_t job, v1::JobEventKind kind, int code = 0, int sig = 0) {
      v1::AgentMessage m;
      m.mutable_job_event()->set_job_id(job);
      m.mutable_job_event()->set_kind(kind);
      m.mutable_job_event()->set_exit_code(code);
      m.mutable_job_event()->set_term_signal(sig);
      return send(m);
    }
    bool log(uint64_t job, v1::LogStream s, const std::string& data) {
      v1::AgentMessage m;
      m.mutable_log()->set_job_id(job);
      m.mutable_log()->set_stream(s);
      m.mutable_log()->set_data(data);
      return send(m);
    }
    // What an agent sends once a job's last process on its node has exited
    // and been drained (docs/wire.md "Logs").
    bool end_of_output(uint64_t job) {
      v1::AgentMessage m;
      m.mutable_log()->set_job_id(job);
      m.mutable_log()->set_end_of_output(true);
      return send(m);
    }
    bool heartbeat(uint64_t seq, uint64_t job = 0, int64_t goroutines = 0) {
      v1::AgentMessage m;
      m.mutable_heartbeat()->set_seq(seq);
      m.mutable_heartbeat()->mutable_load()->set_running_workers(job ? 1 : 0);
      if (job != 0) {
        auto* js = m.mutable_heartbeat()->add_jobs();
        js->set_job_id(job);
        js->set_driver(true);
        js->mutable_sched()->set_goroutines(goroutines);
      }
      return send(m);
    }
    v1::CoordinatorMessage read() {
      v1::CoordinatorMessage m;
      EXPECT_TRUE(stream->Read(&m));
      return m;
    }
  };

  std::unique_ptr<Agent> connect(const v1::RegisterResponse& reg,
                                 std::vector<uint64_t> running_jobs = {}) {
    auto a = std::make_unique<Agent>();
    a->reg = reg;
    a->stream = gw_->Connect(a->ctx.get());
    v1::AgentMessage hello;
    hello.mutable_hello()->set_node_id(reg.node_id());
    hello.mutable_hello()->set_epoch(reg.epoch());
    for (uint64_t id : running_jobs) {
      hello.mutable_hello()->add_running_job_ids(id);
    }
    EXPECT_TRUE(a->send(hello));
    return a;
  }

  skein::testing::TempDir dir_;
  std::unique_ptr<Coordinator> coord_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Coordinator::Stub> cli_;
  std::unique_ptr<v1::NodeGateway::Stub> gw_;
};

TEST_F(ServiceTest, PortFileHoldsTheBoundAddress) {
  std::ifstream in(dir_.path() + "/port");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, coord_->address());
  EXPECT_NE(coord_->port(), 0);
}

// RELIABILITY §3 rows 13/14: every method of every service, enumerated from
// the descriptors so a method added later is covered automatically.
TEST_F(ServiceTest, NoTokenOrWrongTokenIsUnauthenticatedOnEveryMethod) {
  auto no_token =
      grpc::CreateChannel(coord_->address(), grpc::experimental::LocalCredentials(LOCAL_TCP));
  auto wrong = make_channel(coord_->address(), AuthConfig{kWrongToken, {}});
  ASSERT_TRUE(wrong.ok());
  auto methods = all_methods();
  ASSERT_EQ(methods.size(), 21u);  // 16 Coordinator + 5 NodeGateway
  for (const auto& m : methods) {
    grpc::Status a = raw_call(no_token, m);
    EXPECT_EQ(a.error_code(), grpc::StatusCode::UNAUTHENTICATED) << m << ": " << a.error_message();
    grpc::Status b = raw_call(*wrong, m);
    EXPECT_EQ(b.error_code(), grpc::StatusCode::UNAUTHENTICATED) << m << ": " << b.error_message();
    EXPECT_EQ(b.error_message().find(kWrongToken), std::string::npos);
  }
  // With the token every method is reachable (never 16, never UNIMPLEMENTED).
  for (const auto& m : methods) {
    if (m.find("/Shutdown") != std::string::npos) {
      continue;  // would only flag a shutdown request; covered elsewhere
    }
    grpc::Status c = raw_call(channel_, m);
    EXPECT_NE(c.error_code(), grpc::StatusCode::UNAUTHENTICATED) << m;
    EXPECT_NE(c.error_code(), grpc::StatusCode::UNIMPLEMENTED) << m;
  }
  // Nothing was created by the rejected calls.
  EXPECT_TRUE(coord_->cluster().list_jobs({}, 0).empty());
  EXPECT_TRUE(coord_->cluster().list_nodes(true).empty());
}

TEST_F(ServiceTest, EmptyAndMalformedRequestsGetInvalidArgumentAndLoseNothing) {
  std::string sha = upload_ok(blob(1000, 1));
  auto job = submit(sha, "keep-me");
  ASSERT_TRUE(job.ok());

  auto code_of_unary = [](auto&& call) {
    grpc::ClientContext ctx;
    ctx.set_deadline(in(milliseconds(5000)));
    return call(&ctx).error_code();
  };
  using grpc::StatusCode;
  v1::SubmitJobResponse sr;
  EXPECT_EQ(code_of_unary([&](auto* c) { return cli_->SubmitJob(c, {}, &sr); }),
            StatusCode::INVALID_ARGUMENT);
  v1::SubmitJobRequest bad_sha;
  bad_sha.set_binary_sha256("not-a-hash");
  EXPECT_EQ(code_of_unary([&](auto* c) { return cli_->SubmitJob(c, bad_sha, &sr); }),
            StatusCode::INVALID_ARGUMENT);
  v1::SubmitJobRequest unknown;
  unknown.set_binary_sha256(std::string(64, 'e'));
  EXPECT_EQ(code_of_unary([&](auto* c) { return cli_->SubmitJob(c, unknown, &sr); }),
            StatusCode::NOT_FOUND);
  v1::GetJobResponse gr;
  v1::GetJobRequest missing;
  missing.set_job_id(424242);
  EXPECT_EQ(code_of_unary([&](auto* c) { return cli_->GetJob(c, {}, &gr); }),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code_of_unary([&](auto* c) { return cli_->GetJob(c, missing, &gr); }),
            StatusCode::NOT_FOUND);
  v1::CancelJobResponse cr;
  v1::CancelJobRequest cmissing;
  cmissing.set_job_id(424242);
  EXPECT_EQ(code_of_unary([&](auto* c) { return cli_->CancelJob(c, {}, &cr); }),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code_of_unary([&](auto* c) { return cli_->CancelJob(c, cmissing, &cr); }),
            StatusCode::NOT_FOUND);
  v1::ListJobsRequest bad_filter;
  bad_filter.add_states(v1::JOB_STATE_UNSPECIFIED);
  v1::ListJobsResponse lr;
  EXPECT_EQ(code_of_unary([&](auto* c) { return cli_->ListJobs(c, bad_filter, &lr); }),
            StatusCode::INVALID_ARGUMENT);
  v1::RegisterResponse rr;
  EXPECT_EQ(code_of_unary([&](auto* c) { return gw_->Register(c, {}, &rr); }),
            StatusCode::INVALID_ARGUMENT);
  {
    grpc::ClientContext ctx;
    auto r = cli_->StreamLogs(&ctx, v1::StreamLogsRequest());
    v1::StreamLogsResponse m;
    EXPECT_FALSE(r->Read(&m));
    EXPECT_EQ(r->Finish().error_code(), StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    auto r = gw_->FetchBinary(&ctx, v1::FetchBinaryRequest());
    v1::BinaryChunk m;
    EXPECT_FALSE(r->Read(&m));
    EXPECT_EQ(r->Finish().error_code(), StatusCode::INVALID_ARGUMENT);
  }
  {  // An upload with no messages at all, and one without sha256 / size.
    grpc::ClientContext ctx;
    v1::UploadBinaryResponse resp;
    auto w = cli_->UploadBinary(&ctx, &resp);
    w->WritesDone();
    EXPECT_EQ(w->Finish().error_code(), StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(upload("abc", "", 3).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(upload("abc", sha256_hex("abc"), 0).error_code(), StatusCode::INVALID_ARGUMENT);
  {  // Connect whose first message is not a hello.
    grpc::ClientContext ctx;
    auto s = gw_->Connect(&ctx);
    v1::AgentMessage hb;
    hb.mutable_heartbeat()->set_seq(1);
    s->Write(hb);
    s->WritesDone();
    v1::CoordinatorMessage m;
    EXPECT_FALSE(s->Read(&m));
    EXPECT_EQ(s->Finish().error_code(), StatusCode::INVALID_ARGUMENT);
  }
  // Nothing already stored was lost.
  EXPECT_EQ(get_job(job->job().job_id()).binary_sha256(), sha);
  EXPECT_TRUE(coord_->cluster().binaries().contains(sha));
  EXPECT_EQ(coord_->cluster().list_jobs({}, 0).size(), 1u);
}

// RELIABILITY §3 row 10: random and truncated bytes to every method. gRPC
// answers INTERNAL for unparseable bytes before any handler runs; bytes that
// happen to parse are validated semantically. The server must keep serving.
TEST_F(ServiceTest, GarbageBytesToEveryMethodNeverCrashTheServer) {
  std::string sha = upload_ok(blob(100, 9));
  std::vector<std::string> payloads = {
      blob(7, 1), blob(300, 2), std::string("\x0a\xff\xff\xff\x0f", 5), std::string(1, '\x12')};
  for (const auto& m : all_methods()) {
    if (m.find("/Shutdown") != std::string::npos) {
      continue;
    }
    for (const auto& p : payloads) {
      grpc::Status st = raw_call(channel_, m, kToken, p);
      EXPECT_NE(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << m;
    }
  }
  // Canary: still serving, nothing stored was lost.
  EXPECT_TRUE(coord_->cluster().binaries().contains(sha));
  auto job = submit(sha);
  ASSERT_TRUE(job.ok()) << job.status();
}

// RELIABILITY §3 rows 22/23 in small: concurrent submits, retried keys.
TEST_F(ServiceTest, ConcurrentRetriedSubmitsCreateOneJobPerKey) {
  std::string sha = upload_ok(blob(100, 10));
  constexpr int kThreads = 8;
  constexpr int kKeys = 10;
  std::vector<std::map<std::string, uint64_t>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (int k = 0; k < kKeys; ++k) {
          std::string key = "key-" + std::to_string(k);
          auto r = submit(sha, key);
          if (r.ok()) {
            seen[t][key] = r->job().job_id();
          }
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(coord_->cluster().list_jobs({}, 0).size(), static_cast<size_t>(kKeys));
  for (int t = 1; t < kThreads; ++t) {
    EXPECT_EQ(seen[t], seen[0]);
  }
  EXPECT_EQ(seen[0].size(), static_cast<size_t>(kKeys));
}

TEST_F(ServiceTest, CorruptedUploadIsRejectedWithHashPrefixesAndNoPartialFileRemains) {
  std::string data = blob(3 << 20, 7);  // three chunks
  std::string sha = sha256_hex(data);
  std::string corrupted = data;
  corrupted[(2 << 20) + 17] ^= 0x40;
  grpc::Status st = upload(corrupted, sha, corrupted.size());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("expected " + sha256_prefix(sha)), std::string::npos)
      << st.error_message();
  EXPECT_NE(st.error_message().find("got " + sha256_prefix(sha256_hex(corrupted))),
            std::string::npos)
      << st.error_message();
  EXPECT_FALSE(coord_->cluster().binaries().contains(sha));
  std::string partial = dir_.path() + "/data/binaries/.partial";
  EXPECT_TRUE(fs::is_empty(partial));
  // Truncated upload (client stops half way) is rejected too.
  st = upload(data.substr(0, data.size() / 2), sha, data.size());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(fs::is_empty(partial));
  // And the good bytes are accepted afterwards.
  v1::UploadBinaryResponse resp;
  ASSERT_TRUE(upload(data, sha, data.size(), &resp).ok());
  EXPECT_EQ(resp.sha256(), sha);
  EXPECT_EQ(resp.size(), data.size());
}

TEST_F(ServiceTest, SizeCapIsResourceExhausted) {
  restart();  // fresh server, same dir
  coord_->stop();
  coord_.reset();
  start(/*max_binary_bytes=*/1 << 20);
  std::string data = blob((1 << 20) + 1, 3);
  grpc::Status st = upload(data, sha256_hex(data), data.size());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_TRUE(fs::is_empty(dir_.path() + "/data/binaries/.partial"));
}

TEST_F(ServiceTest, HundredMegabyteBinaryUploadsAndFetchesBackIntact) {
  std::string data = blob(100u << 20, 11);
  std::string sha = sha256_hex(data);
  auto t0 = std::chrono::steady_clock::now();
  v1::UploadBinaryResponse resp;
  grpc::Status st = upload(data, sha, data.size(), &resp);
  auto upload_ms = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(resp.already_stored());
  grpc::ClientContext ctx;
  v1::FetchBinaryRequest req;
  req.set_sha256(sha);
  auto reader = gw_->FetchBinary(&ctx, req);
  Sha256 h;
  uint64_t got = 0;
  v1::BinaryChunk chunk;
  while (reader->Read(&chunk)) {
    EXPECT_EQ(chunk.offset(), got);
    EXPECT_EQ(chunk.total_size(), data.size());
    EXPECT_LE(chunk.data().size(), 1u << 20);
    h.update(chunk.data());
    got += chunk.data().size();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(got, data.size());
  EXPECT_EQ(h.final_hex(), sha);
  std::printf("100 MiB upload over loopback: %lld ms\n", static_cast<long long>(upload_ms.count()));
}

TEST_F(ServiceTest, DuplicateSubmitWithTheSameKeyIsOneJob) {
  std::string sha = upload_ok(blob(500, 2));
  auto a = submit(sha, "retry-me", {"--n", "1"});
  auto b = submit(sha, "retry-me", {"--n", "1"});
  auto c = submit(sha, "");
  auto d = submit(sha, "");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_EQ(a->job().job_id(), b->job().job_id());
  EXPECT_FALSE(a->deduplicated());
  EXPECT_TRUE(b->deduplicated());
  EXPECT_NE(c->job().job_id(), d->job().job_id()) << "no key: every submit is a new job";
  EXPECT_EQ(coord_->cluster().list_jobs({}, 0).size(), 3u);
  // No live node yet: the job waits unplaced.
  EXPECT_EQ(a->job().state(), v1::JOB_STATE_PENDING);
  EXPECT_EQ(a->job().driver_node(), "");
}

TEST_F(ServiceTest, JobLifecycleLogsStatsAndCancelThroughARealAgentStream) {
  std::string sha = upload_ok(blob(2000, 4));
  auto reg = register_node();
  auto agent = connect(reg);
  auto ack = agent->read();
  ASSERT_TRUE(ack.has_ack());
  EXPECT_EQ(ack.ack().heartbeat_period_ms(), 100u);
  EXPECT_EQ(ack.ack().miss_limit(), 5u);

  auto t_submit = std::chrono::steady_clock::now();
  auto sub = submit(sha, "", {"--leaves", "10"});
  ASSERT_TRUE(sub.ok());
  uint64_t id = sub->job().job_id();
  EXPECT_EQ(sub->job().driver_node(), reg.node_id());
  auto start = agent->read();
  std::printf("SubmitJob call -> StartJob at the agent: %lld us\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(
                                         std::chrono::steady_clock::now() - t_submit)
                                         .count()));
  ASSERT_TRUE(start.has_start_job());
  EXPECT_EQ(start.start_job().job_id(), id);
  EXPECT_EQ(start.start_job().binary_sha256(), sha);
  EXPECT_EQ(start.start_job().binary_size(), 2000u);
  ASSERT_EQ(start.start_job().args_size(), 2);
  EXPECT_EQ(start.start_job().args(1), "10");

  // A follower attached before the job ends sees every chunk, then the end.
  std::promise<std::pair<std::string, v1::JobInfo>> followed;
  std::thread follower([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(in(milliseconds(10000)));
    v1::StreamLogsRequest req;
    req.set_job_id(id);
    req.set_follow(true);
    auto r = cli_->StreamLogs(&ctx, req);
    std::string text;
    v1::JobInfo final_job;
    v1::StreamLogsResponse m;
    while (r->Read(&m)) {
      if (m.has_chunk()) {
        text += m.chunk().data();
        // Labelled by the coordinator: the relaying node; an unlabelled
        // chunk from the driver's node is the driver's.
        EXPECT_EQ(m.chunk().node_id(), reg.node_id());
        EXPECT_EQ(m.chunk().source(), v1::LOG_SOURCE_DRIVER);
      }
      if (m.has_final_job()) {
        final_job = m.final_job();
      }
    }
    EXPECT_TRUE(r->Finish().ok());
    followed.set_value({text, final_job});
  });
  struct JoinOnExit {
    std::thread& t;
    ~JoinOnExit() {
      if (t.joinable()) {
        t.join();  // bounded by the follower's 10 s deadline
      }
    }
  } join_follower{follower};

  ASSERT_TRUE(agent->event(id, v1::JOB_EVENT_KIND_STARTED));
  ASSERT_TRUE(agent->heartbeat(1, id, 12345));
  ASSERT_TRUE(agent->log(id, v1::LOG_STREAM_STDOUT, "hello from the job\n"));
  ASSERT_TRUE(agent->log(id, v1::LOG_STREAM_STDERR, "a warning\n"));
  for (int i = 0; i < 50 && get_job(id).state() != v1::JOB_STATE_RUNNING; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(get_job(id).state(), v1::JOB_STATE_RUNNING);
  {
    // The heartbeat travels on the same stream after STARTED, but RUNNING
    // being visible does not mean it has been processed: poll (bounded).
    v1::GetStatsResponse stats;
    for (int i = 0; i < 200; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(in(milliseconds(5000)));
      ASSERT_TRUE(cli_->GetStats(&ctx, {}, &stats).ok());
      if (stats.nodes_size() == 1 && stats.nodes(0).jobs_size() == 1) {
        break;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    ASSERT_EQ(stats.nodes_size(), 1);
    EXPECT_EQ(stats.nodes(0).node().node_id(), reg.node_id());
    ASSERT_EQ(stats.nodes(0).jobs_size(), 1);
    EXPECT_EQ(stats.nodes(0).jobs(0).sched().goroutines(), 12345);
  }
  // As an agent does: the node's output ends before the driver's exit, so the
  // follower ends with the exit, not after the linger (cancel grace + 3 s).
  ASSERT_TRUE(agent->end_of_output(id));
  const auto exited_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(agent->event(id, v1::JOB_EVENT_KIND_EXITED, 3));
  auto fut = followed.get_future();
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - exited_at, std::chrono::seconds(2));
  auto [text, final_job] = fut.get();
  EXPECT_EQ(text, "hello from the job\na warning\n");
  EXPECT_EQ(final_job.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(final_job.exit_code(), 3);
  EXPECT_EQ(get_job(id).error(), "exit code 3");
  {  // Without follow the stored log comes back and the stream ends.
    grpc::ClientContext ctx;
    v1::StreamLogsRequest req;
    req.set_job_id(id);
    auto r = cli_->StreamLogs(&ctx, req);
    v1::StreamLogsResponse m;
    int n = 0;
    while (r->Read(&m)) {
      n += m.has_chunk() ? 1 : 0;
    }
    EXPECT_TRUE(r->Finish().ok());
    EXPECT_EQ(n, 2);
  }

  // Cancel a running job: the agent is told, the exit makes it CANCELLED.
  auto sub2 = submit(sha);
  ASSERT_TRUE(sub2.ok());
  uint64_t id2 = sub2->job().job_id();
  ASSERT_EQ(agent->read().start_job().job_id(), id2);
  ASSERT_TRUE(agent->event(id2, v1::JOB_EVENT_KIND_STARTED));
  for (int i = 0; i < 50 && get_job(id2).state() != v1::JOB_STATE_RUNNING; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(in(milliseconds(5000)));
    v1::CancelJobRequest req;
    req.set_job_id(id2);
    v1::CancelJobResponse resp;
    ASSERT_TRUE(cli_->CancelJob(&ctx, req, &resp).ok());
    EXPECT_TRUE(resp.job().cancel_requested());
  }
  auto cancel = agent->read();
  ASSERT_TRUE(cancel.has_cancel_job());
  EXPECT_EQ(cancel.cancel_job().job_id(), id2);
  EXPECT_GT(cancel.cancel_job().grace_ms(), 0u);
  ASSERT_TRUE(agent->event(id2, v1::JOB_EVENT_KIND_EXITED, 0, 15));
  for (int i = 0; i < 50 && get_job(id2).state() == v1::JOB_STATE_RUNNING; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(get_job(id2).state(), v1::JOB_STATE_CANCELLED);
  {  // Cancelling a finished job is refused.
    grpc::ClientContext ctx;
    v1::CancelJobRequest req;
    req.set_job_id(id);
    v1::CancelJobResponse resp;
    EXPECT_EQ(cli_->CancelJob(&ctx, req, &resp).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }
  agent->stream->WritesDone();
  agent->stream->Finish();
}

// Task dispatch over real Connect streams: the owner's agent sends a batch,
// the target agent reads StartJob{driver: false} then the tasks, answers with
// results, and the owner's agent reads them; the job's end cancels the target.
TEST_F(ServiceTest, TasksAndResultsTravelBetweenTwoRealAgentStreams) {
  std::string sha = upload_ok(blob(500, 11));
  auto reg_a = register_node(), reg_b = register_node();
  auto a = connect(reg_a);
  auto b = connect(reg_b);
  ASSERT_TRUE(a->read().has_ack());
  ASSERT_TRUE(b->read().has_ack());
  auto sub = submit(sha, "", {"--n", "3"}, reg_a.node_id());
  ASSERT_TRUE(sub.ok()) << sub.status();
  uint64_t id = sub->job().job_id();
  ASSERT_TRUE(a->read().start_job().driver());
  ASSERT_TRUE(a->event(id, v1::JOB_EVENT_KIND_STARTED));

  constexpr int kTasks = 300;
  v1::AgentMessage m;
  auto* tb = m.mutable_tasks();
  tb->set_job_id(id);
  tb->mutable_owner()->set_node_id(reg_a.node_id());
  tb->mutable_owner()->set_worker_id(2);
  for (int i = 1; i <= kTasks; ++i) {
    auto* t = tb->add_tasks();
    t->set_task_id(static_cast<uint64_t>(i));
    t->set_attempt(1);
    t->set_function("fib");
    t->set_args(blob(64, i));
    t->set_placement(v1::PLACEMENT_KIND_PINNED);
    t->set_pinned_node(reg_b.node_id());
  }
  ASSERT_TRUE(a->send(m));

  auto start = b->read();
  ASSERT_TRUE(start.has_start_job());
  EXPECT_FALSE(start.start_job().driver());
  EXPECT_EQ(start.start_job().job_id(), id);
  EXPECT_EQ(start.start_job().binary_sha256(), sha);
  EXPECT_EQ(start.start_job().args(1), "3");
  int got = 0;
  v1::AgentMessage res;
  res.mutable_results()->set_job_id(id);
  while (got < kTasks) {
    auto msg = b->read();
    ASSERT_TRUE(msg.has_tasks());
    EXPECT_EQ(msg.tasks().owner().node_id(), reg_a.node_id());
    EXPECT_EQ(msg.tasks().owner().worker_id(), 2u);
    *res.mutable_results()->mutable_owner() = msg.tasks().owner();
    for (const auto& t : msg.tasks().tasks()) {
      EXPECT_EQ(t.args(), blob(64, static_cast<int>(t.task_id())));
      auto* r = res.mutable_results()->add_results();
      r->set_task_id(t.task_id());
      r->set_attempt(t.attempt());
      r->set_result("r" + std::to_string(t.task_id()));
      ++got;
    }
  }
  ASSERT_TRUE(b->send(res));
  int results = 0;
  while (results < kTasks) {
    auto msg = a->read();
    ASSERT_TRUE(msg.has_results());
    EXPECT_EQ(msg.results().owner().worker_id(), 2u);
    for (const auto& r : msg.results().results()) {
      EXPECT_EQ(r.result(), "r" + std::to_string(r.task_id()));
      EXPECT_EQ(r.node(), reg_b.node_id());
      ++results;
    }
  }
  EXPECT_EQ(coord_->cluster().task_stats().in_flight, 0u);

  ASSERT_TRUE(a->event(id, v1::JOB_EVENT_KIND_EXITED, 0));
  auto cancel = b->read();
  ASSERT_TRUE(cancel.has_cancel_job());
  EXPECT_EQ(cancel.cancel_job().job_id(), id);
  for (auto* agent : {a.get(), b.get()}) {
    agent->stream->WritesDone();
    agent->stream->Finish();
  }
}

// RELIABILITY R3 at the test setting (100 ms x 5): a silent node is declared
// dead within the bound, its job fails, its stream is fenced, and it can only
// come back as a new node. A node that keeps heartbeating is never declared dead.
TEST_F(ServiceTest, SilentNodeIsDeclaredDeadFencedAndMustRegisterAgain) {
  std::string sha = upload_ok(blob(100, 5));
  auto healthy_reg = register_node();
  auto healthy = connect(healthy_reg);
  ASSERT_TRUE(healthy->read().has_ack());
  std::atomic<bool> stop{false};
  std::thread beats([&] {
    for (uint64_t seq = 1; !stop.load(); ++seq) {
      healthy->heartbeat(seq);
      std::this_thread::sleep_for(milliseconds(50));
    }
  });
  struct JoinOnExit {
    std::atomic<bool>& stop;
    std::thread& t;
    ~JoinOnExit() {
      stop.store(true);
      if (t.joinable()) {
        t.join();
      }
    }
  } join_on_exit{stop, beats};

  auto reg = register_node();
  auto agent = connect(reg);
  ASSERT_TRUE(agent->read().has_ack());
  auto sub = submit(sha, "", {}, /*pinned=*/reg.node_id());
  ASSERT_TRUE(sub.ok());
  uint64_t id = sub->job().job_id();
  ASSERT_EQ(sub->job().driver_node(), reg.node_id());
  ASSERT_EQ(agent->read().start_job().job_id(), id);
  ASSERT_TRUE(agent->event(id, v1::JOB_EVENT_KIND_STARTED));
  auto silent_since = std::chrono::steady_clock::now();
  // Now silence. The stream must be finished by the coordinator.
  v1::CoordinatorMessage m;
  EXPECT_FALSE(agent->stream->Read(&m));
  auto detected =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - silent_since);
  grpc::Status st = agent->stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  EXPECT_NE(st.error_message().find("declared dead"), std::string::npos);
  EXPECT_GE(detected.count(), 450);   // not before period x misses (minus the hello's age)
  EXPECT_LE(detected.count(), 1500);  // 500 ms + one 25 ms tick, with CI slack
  std::printf("failure detection at 100 ms x 5: %lld ms\n",
              static_cast<long long>(detected.count()));

  v1::JobInfo job = get_job(id);
  EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(job.error().find("driver node " + reg.node_id() + " lost"), std::string::npos)
      << job.error();

  // The old identity is fenced: a new stream with it is refused.
  auto zombie = connect(reg);
  EXPECT_FALSE(zombie->stream->Read(&m));
  EXPECT_EQ(zombie->stream->Finish().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  auto again = register_node();
  EXPECT_NE(again.node_id(), reg.node_id());
  EXPECT_GT(again.epoch(), reg.epoch());

  stop.store(true);
  beats.join();
  auto nodes = coord_->cluster().list_nodes(/*include_dead=*/true);
  int alive = 0;
  for (const auto& n : nodes) {
    if (n.node_id() == healthy_reg.node_id()) {
      EXPECT_EQ(n.state(), v1::NODE_STATE_ALIVE) << "heartbeating node declared dead";
    }
    alive += n.state() == v1::NODE_STATE_ALIVE ? 1 : 0;
  }
  EXPECT_EQ(alive, 2);  // healthy + the re-registered one
  healthy->stream->WritesDone();
  healthy->stream->Finish();
}

TEST_F(ServiceTest, RestartKeepsJobHistoryAndBinaries) {
  std::string data = blob(5000, 6);
  std::string sha = upload_ok(data);
  auto reg = register_node();
  auto agent = connect(reg);
  ASSERT_TRUE(agent->read().has_ack());
  auto done = submit(sha, "a");
  auto running = submit(sha, "b");
  ASSERT_TRUE(done.ok() && running.ok());
  agent->read();
  agent->read();
  ASSERT_TRUE(agent->event(done->job().job_id(), v1::JOB_EVENT_KIND_STARTED));
  ASSERT_TRUE(agent->log(done->job().job_id(), v1::LOG_STREAM_STDOUT, "kept\n"));
  ASSERT_TRUE(agent->event(done->job().job_id(), v1::JOB_EVENT_KIND_EXITED, 0));
  ASSERT_TRUE(agent->event(running->job().job_id(), v1::JOB_EVENT_KIND_STARTED));
  for (int i = 0; i < 100 && get_job(running->job().job_id()).state() != v1::JOB_STATE_RUNNING;
       ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  agent->ctx->TryCancel();
  agent->stream->Finish();
  std::string old_address = coord_->address();

  restart();
  EXPECT_EQ(get_job(done->job().job_id()).state(), v1::JOB_STATE_SUCCEEDED);
  v1::JobInfo lost = get_job(running->job().job_id());
  EXPECT_EQ(lost.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(lost.error(), "coordinator restarted while the job ran");
  EXPECT_TRUE(coord_->cluster().binaries().contains(sha));
  {
    grpc::ClientContext ctx;
    v1::StreamLogsRequest req;
    req.set_job_id(done->job().job_id());
    auto r = cli_->StreamLogs(&ctx, req);
    v1::StreamLogsResponse m;
    std::string text;
    while (r->Read(&m)) {
      text += m.chunk().data();
    }
    EXPECT_TRUE(r->Finish().ok());
    EXPECT_EQ(text, "kept\n");
  }
  // The old agent identity is refused after the restart.
  gw_ = v1::NodeGateway::NewStub(channel_);
  auto zombie = connect(reg);
  v1::CoordinatorMessage m;
  EXPECT_FALSE(zombie->stream->Read(&m));
  EXPECT_EQ(zombie->stream->Finish().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  (void)old_address;
}

// A broken stream is not a death: the agent reconnects under the same
// identity and reports what still runs; what it does not report is lost.
TEST_F(ServiceTest, ReconnectWhileAliveKeepsReportedJobsAndFailsTheOthers) {
  std::string sha = upload_ok(blob(300, 8));
  auto reg = register_node();
  auto agent = connect(reg);
  ASSERT_TRUE(agent->read().has_ack());
  auto kept = submit(sha);
  auto lost = submit(sha);
  ASSERT_TRUE(kept.ok() && lost.ok());
  agent->read();
  agent->read();
  ASSERT_TRUE(agent->event(kept->job().job_id(), v1::JOB_EVENT_KIND_STARTED));
  ASSERT_TRUE(agent->event(lost->job().job_id(), v1::JOB_EVENT_KIND_STARTED));
  for (int i = 0; i < 100 && get_job(lost->job().job_id()).state() != v1::JOB_STATE_RUNNING; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  agent->ctx->TryCancel();
  agent->stream->Finish();

  auto again = connect(reg, {kept->job().job_id()});
  ASSERT_TRUE(again->read().has_ack());
  for (int i = 0; i < 100 && get_job(lost->job().job_id()).state() == v1::JOB_STATE_RUNNING; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(get_job(kept->job().job_id()).state(), v1::JOB_STATE_RUNNING);
  v1::JobInfo l = get_job(lost->job().job_id());
  EXPECT_EQ(l.state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(l.error().find("lost by node"), std::string::npos) << l.error();
  // Same node, same epoch: still one live node.
  EXPECT_EQ(coord_->cluster().list_nodes(false).size(), 1u);
  again->stream->WritesDone();
  again->stream->Finish();
}

// A client of the TLS listener holding `cert` (may be empty) and `token`.
std::shared_ptr<grpc::Channel> tls_channel(const std::string& target, const CertAuthority& ca,
                                           const pki::CertKey& cert, const std::string& token) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = ca.ca_pem();
  o.pem_cert_chain = cert.cert_pem;
  o.pem_private_key = cert.key_pem;
  auto creds = grpc::SslCredentials(o);
  if (!token.empty()) {
    creds = grpc::CompositeChannelCredentials(creds, grpc::AccessTokenCredentials(token));
  }
  return grpc::CreateChannel(target, creds);
}

pki::CertKey client_cert(CertAuthority& ca, pki::Role role, const std::string& name) {
  auto key = pki::generate_key();
  auto csr = pki::make_csr(*key, name);
  absl::StatusOr<pki::Issued> issued =
      role == pki::Role::kNode ? ca.issue_node("", name, *csr)
                               : ca.issue_credential(name, role, *csr, std::chrono::hours(1));
  EXPECT_TRUE(issued.ok()) << issued.status();
  return {issued.ok() ? issued->cert_pem : "", *key};
}

// Every method of every service, called as each principal over the TLS
// listener (RELIABILITY §2, the Spark lesson: auth in front of every method
// of every listener, enumerated from the descriptors). Users work with jobs,
// nodes, logs and stats; admins may do anything but renew a node
// certificate; nodes may only use the NodeGateway; a join token may only Join; nothing is reachable
// without a credential; a revoked node certificate reaches nothing.
TEST(TlsMode, EachPrincipalReachesOnlyItsMethods) {
  skein::testing::TempDir dir;
  CoordinatorConfig cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.tls = true;
  cfg.cluster.data_dir = dir.path() + "/data";
  auto c = Coordinator::start(cfg, kToken);
  ASSERT_TRUE(c.ok()) << c.status();
  CertAuthority* ca = (*c)->cert_authority();
  ASSERT_NE(ca, nullptr);
  const std::string target = (*c)->address();
  auto join = ca->create_token(std::chrono::hours(1), "test", nullptr);
  ASSERT_TRUE(join.ok());
  const pki::CertKey none;
  auto anonymous = tls_channel(target, *ca, none, "");
  auto bootstrap = tls_channel(target, *ca, none, *join);
  auto user = tls_channel(target, *ca, client_cert(*ca, pki::Role::kUser, "alice"), "");
  auto admin = tls_channel(target, *ca, client_cert(*ca, pki::Role::kAdmin, "root"), "");
  auto node = tls_channel(target, *ca, client_cert(*ca, pki::Role::kNode, "host-1"), "");
  auto admin_token = tls_channel(target, *ca, none, kToken);
  const std::set<std::string> admin_only = {"Shutdown",    "CreateToken", "ListTokens",
                                            "RevokeToken", "RemoveNode",  "IssueCredential"};
  auto denied = [](const grpc::Status& s) {
    return s.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
           s.error_code() == grpc::StatusCode::UNAUTHENTICATED;
  };
  for (const auto& m : all_methods()) {
    const std::string name = m.substr(m.rfind('/') + 1);
    const bool gateway = m.find("NodeGateway") != std::string::npos;
    SCOPED_TRACE(m);
    EXPECT_EQ(raw_call(anonymous, m).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(raw_call(bootstrap, m).error_code() == grpc::StatusCode::PERMISSION_DENIED,
              name != "Join");
    EXPECT_EQ(raw_call(node, m).error_code() == grpc::StatusCode::PERMISSION_DENIED,
              !gateway || name == "Join");
    if (name == "Shutdown") {
      continue;  // allowed callers would stop the coordinator
    }
    EXPECT_EQ(raw_call(user, m).error_code() == grpc::StatusCode::PERMISSION_DENIED,
              gateway || admin_only.count(name) > 0);
    // RenewCertificate renews the caller's own node certificate: an admin
    // has none.
    EXPECT_EQ(denied(raw_call(admin, m)), name == "RenewCertificate");
    EXPECT_EQ(denied(raw_call(admin_token, m)), name == "RenewCertificate");
  }
  // Nothing was created by the refused calls; revoking a node's certificate
  // shuts it out of every method.
  EXPECT_TRUE((*c)->cluster().list_jobs({}, 0).empty());
  ASSERT_TRUE(ca->revoke_identity("host-1").ok());
  auto revoked = tls_channel(target, *ca, client_cert(*ca, pki::Role::kNode, "host-2"), "");
  ASSERT_TRUE(ca->revoke_identity("host-2").ok());
  grpc::Status r = raw_call(revoked, "/skein.v1.NodeGateway/Register");
  EXPECT_EQ(r.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(r.error_message().find("revoked"), std::string::npos) << r.error_message();
  (*c)->stop();
}

// A non-loopback --listen is always TLS: the coordinator makes its PKI and
// a plaintext client cannot even finish a handshake.
TEST(TlsMode, OffLoopbackThereIsNoPlaintext) {
  skein::testing::TempDir dir;
  CoordinatorConfig cfg;
  cfg.listen = "0.0.0.0:0";
  cfg.cluster.data_dir = dir.path() + "/data";
  auto c = Coordinator::start(cfg, kToken);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_NE((*c)->cert_authority(), nullptr);
  EXPECT_TRUE(fs::exists(dir.path() + "/data/pki/ca.key"));
  EXPECT_EQ(fs::status(dir.path() + "/data/pki/ca.key").permissions() & fs::perms::group_all,
            fs::perms::none);
  std::string target = "127.0.0.1:" + std::to_string((*c)->port());
  auto plain = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  EXPECT_EQ(raw_call(plain, "/skein.v1.Coordinator/ListJobs", kToken).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  (*c)->stop();
}

TEST_F(ServiceTest, WatchStatsStreamsSnapshotsAtTheRequestedInterval) {
  auto reg = register_node();
  grpc::ClientContext ctx;
  ctx.set_deadline(in(milliseconds(5000)));
  v1::WatchStatsRequest req;
  req.set_interval_ms(100);
  auto r = cli_->WatchStats(&ctx, req);
  v1::GetStatsResponse m;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(r->Read(&m));
    ASSERT_EQ(m.nodes_size(), 1);
    EXPECT_EQ(m.nodes(0).node().node_id(), reg.node_id());
  }
  auto elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
  EXPECT_GE(elapsed.count(), 250);  // first at once, then 3 x 100 ms
  ctx.TryCancel();
  r->Finish();
}

TEST_F(ServiceTest, ShutdownRpcWakesTheOwner) {
  std::thread waiter([&] { coord_->wait(); });
  grpc::ClientContext ctx;
  ctx.set_deadline(in(milliseconds(5000)));
  v1::ShutdownResponse resp;
  EXPECT_TRUE(cli_->Shutdown(&ctx, {}, &resp).ok());
  waiter.join();  // returns only because Shutdown signalled it
}

}  // namespace
}  // namespace skein::coordinator
