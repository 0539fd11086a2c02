// The journal on its own, then the whole Cluster across a "restart":
// construct, write, destroy, reconstruct from the same directory.
#include "journal.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "cluster.hpp"
#include "skein/common/sha256.hpp"
#include "temp_dir.hpp"

namespace skein::coordinator {
namespace {

v1::JournalRecord job_record(uint64_t id, v1::JobState s) {
  v1::JournalRecord r;
  r.mutable_job()->set_job_id(id);
  r.mutable_job()->set_state(s);
  r.mutable_job()->add_args("--x=1");
  return r;
}

TEST(Journal, AppendedRecordsReplayInOrder) {
  skein::testing::TempDir dir;
  std::vector<v1::JournalRecord> replay;
  {
    auto j = Journal::open(dir.path(), &replay);
    ASSERT_TRUE(j.ok()) << j.status();
    EXPECT_TRUE(replay.empty());
    ASSERT_TRUE((*j)->append(job_record(1, v1::JOB_STATE_PENDING)).ok());
    ASSERT_TRUE((*j)->append(job_record(1, v1::JOB_STATE_RUNNING)).ok());
    ASSERT_TRUE((*j)->append(job_record(2, v1::JOB_STATE_PENDING)).ok());
  }
  auto j = Journal::open(dir.path(), &replay);
  ASSERT_TRUE(j.ok());
  ASSERT_EQ(replay.size(), 3u);
  EXPECT_EQ(replay[1].job().state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(replay[2].job().job_id(), 2u);
  EXPECT_EQ(replay[0].job().args(0), "--x=1");
}

TEST(Journal, TornLastLineIsDroppedCorruptMiddleRefusesToStart) {
  skein::testing::TempDir dir;
  std::vector<v1::JournalRecord> replay;
  {
    auto j = Journal::open(dir.path(), &replay);
    ASSERT_TRUE((*j)->append(job_record(1, v1::JOB_STATE_PENDING)).ok());
  }
  std::string path = dir.path() + "/journal.jsonl";
  std::ofstream(path, std::ios::app) << "{\"job\":{\"jobId\":\"2\",\"sta";  // crash mid-write
  {
    auto j = Journal::open(dir.path(), &replay);
    ASSERT_TRUE(j.ok()) << j.status();
    EXPECT_EQ(replay.size(), 1u);
    ASSERT_TRUE((*j)->append(job_record(3, v1::JOB_STATE_PENDING)).ok());
  }
  {
    auto j = Journal::open(dir.path(), &replay);
    ASSERT_TRUE(j.ok());
    ASSERT_EQ(replay.size(), 2u) << "the torn tail was cut before the next append";
    EXPECT_EQ(replay[1].job().job_id(), 3u);
  }
  std::ofstream(path, std::ios::trunc) << "garbage\n"
                                       << "{\"job\":{\"jobId\":\"1\"}}\n";
  EXPECT_EQ(Journal::open(dir.path(), &replay).status().code(), absl::StatusCode::kDataLoss);
}

// --- Cluster restart -------------------------------------------------------

class RecordingSession : public NodeSession {
 public:
  void send(const v1::CoordinatorMessage& msg) override { sent.push_back(msg); }
  void close(const grpc::Status& status) override { closed.push_back(status); }
  std::vector<v1::CoordinatorMessage> sent;
  std::vector<grpc::Status> closed;
};

ClusterConfig config_for(const std::string& dir,
                         std::chrono::milliseconds recovery_window = std::chrono::milliseconds(0)) {
  ClusterConfig c;
  c.data_dir = dir;
  c.membership = MembershipConfig{std::chrono::milliseconds(100), 5};
  c.recovery_window = recovery_window;
  return c;
}

std::string store_binary(Cluster& c, const std::string& data) {
  std::string sha = sha256_hex(data);
  auto up = c.binaries().begin_upload(sha, data.size());
  EXPECT_TRUE(up.ok());
  EXPECT_TRUE((*up)->append(data).ok());
  EXPECT_TRUE((*up)->commit().ok());
  return sha;
}

TEST(ClusterRestart, HistoryBinariesAndIdsSurviveAndInFlightJobsFailLoudly) {
  skein::testing::TempDir dir;
  std::string sha;
  uint64_t done_id = 0, running_id = 0, queued_id = 0;
  std::string first_node;
  {
    auto c = Cluster::open(config_for(dir.path()));
    ASSERT_TRUE(c.ok()) << c.status();
    Cluster& cl = **c;
    sha = store_binary(cl, "#!/bin/true\n");
    v1::RegisterRequest rr;
    rr.mutable_resources()->set_cpus(2);
    auto reg = cl.register_node(rr);
    ASSERT_TRUE(reg.ok());
    first_node = reg->node_id();
    auto session = std::make_shared<RecordingSession>();
    v1::ConnectHello hello;
    hello.set_node_id(reg->node_id());
    hello.set_epoch(reg->epoch());
    ASSERT_TRUE(cl.attach(hello, session).ok());

    v1::SubmitJobRequest sr;
    sr.set_binary_sha256(sha);
    sr.set_idempotency_key("done");
    auto done = cl.submit(sr);
    ASSERT_TRUE(done.ok()) << done.status();
    done_id = done->job.job_id();
    EXPECT_EQ(done->job.driver_node(), reg->node_id());
    sr.set_idempotency_key("running");
    running_id = cl.submit(sr)->job.job_id();

    auto event = [&](uint64_t id, v1::JobEventKind kind, int code) {
      v1::AgentMessage m;
      m.mutable_job_event()->set_job_id(id);
      m.mutable_job_event()->set_kind(kind);
      m.mutable_job_event()->set_exit_code(code);
      ASSERT_TRUE(cl.on_agent_message(reg->node_id(), reg->epoch(), m).ok());
    };
    event(done_id, v1::JOB_EVENT_KIND_STARTED, 0);
    event(done_id, v1::JOB_EVENT_KIND_EXITED, 0);
    event(running_id, v1::JOB_EVENT_KIND_STARTED, 0);
    ASSERT_EQ(cl.get_job(running_id)->state(), v1::JOB_STATE_RUNNING);
    cl.detach(reg->node_id(), session.get());
    // Let the node die so a job submitted now stays queued (unplaced).
    cl.tick(std::chrono::steady_clock::now() + std::chrono::seconds(10));
    ASSERT_EQ(cl.get_job(running_id)->state(), v1::JOB_STATE_FAILED);
    sr.set_idempotency_key("queued");
    queued_id = cl.submit(sr)->job.job_id();
    EXPECT_EQ(cl.get_job(queued_id)->driver_node(), "");
  }  // the coordinator "dies"

  auto c = Cluster::open(config_for(dir.path()));
  ASSERT_TRUE(c.ok()) << c.status();
  Cluster& cl = **c;
  EXPECT_EQ(cl.list_jobs({}, 0).size(), 3u);
  EXPECT_EQ(cl.get_job(done_id)->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(cl.get_job(running_id)->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(cl.get_job(queued_id)->state(), v1::JOB_STATE_PENDING) << "never started: kept";
  EXPECT_TRUE(cl.binaries().contains(sha));
  // The idempotency key still names the same job after the restart.
  v1::SubmitJobRequest sr;
  sr.set_binary_sha256(sha);
  sr.set_idempotency_key("done");
  auto dup = cl.submit(sr);
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE(dup->deduplicated);
  EXPECT_EQ(dup->job.job_id(), done_id);
  // The old node is dead for good; a new registration gets a new id.
  EXPECT_EQ(cl.list_nodes(false).size(), 0u);
  v1::RegisterRequest rr;
  rr.mutable_resources()->set_cpus(2);
  auto reg = cl.register_node(rr);
  ASSERT_TRUE(reg.ok());
  EXPECT_NE(reg->node_id(), first_node);
  v1::ConnectHello stale;
  stale.set_node_id(first_node);
  stale.set_epoch(1);
  EXPECT_EQ(cl.attach(stale, std::make_shared<RecordingSession>()).code(),
            absl::StatusCode::kFailedPrecondition);
  // The queued job is placed on the new node as soon as it connects.
  auto session = std::make_shared<RecordingSession>();
  v1::ConnectHello hello;
  hello.set_node_id(reg->node_id());
  hello.set_epoch(reg->epoch());
  ASSERT_TRUE(cl.attach(hello, session).ok());
  EXPECT_EQ(cl.get_job(queued_id)->driver_node(), reg->node_id());
  ASSERT_GE(session->sent.size(), 2u);
  EXPECT_TRUE(session->sent[0].has_ack());
  EXPECT_EQ(session->sent[1].start_job().job_id(), queued_id);
}

// R5 beyond the first version: with a recovery window, an agent that
// reconnects under its old identity keeps its running job; a node that does
// not come back within the window dies and its job fails; a node that was
// already dead before the restart stays dead.
TEST(ClusterRestart, RecoveryWindowLetsReconnectingAgentsKeepTheirJobs) {
  using std::chrono::milliseconds;
  skein::testing::TempDir dir;
  std::string sha;
  v1::RegisterResponse back, gone, dead;
  uint64_t kept = 0, lost = 0;
  {
    auto c = Cluster::open(config_for(dir.path(), milliseconds(300)));
    ASSERT_TRUE(c.ok()) << c.status();
    Cluster& cl = **c;
    sha = store_binary(cl, "binary");
    v1::RegisterRequest rr;
    rr.mutable_resources()->set_cpus(2);
    dead = *cl.register_node(rr);
    cl.tick(std::chrono::steady_clock::now() + std::chrono::seconds(10));  // `dead` dies
    back = *cl.register_node(rr);
    gone = *cl.register_node(rr);
    auto start_one = [&](const v1::RegisterResponse& reg) {
      auto s = std::make_shared<RecordingSession>();
      v1::ConnectHello hello;
      hello.set_node_id(reg.node_id());
      hello.set_epoch(reg.epoch());
      EXPECT_TRUE(cl.attach(hello, s).ok());
      v1::SubmitJobRequest sr;
      sr.set_binary_sha256(sha);
      sr.set_pinned_node(reg.node_id());
      uint64_t id = cl.submit(sr)->job.job_id();
      v1::AgentMessage m;
      m.mutable_job_event()->set_job_id(id);
      m.mutable_job_event()->set_kind(v1::JOB_EVENT_KIND_STARTED);
      EXPECT_TRUE(cl.on_agent_message(reg.node_id(), reg.epoch(), m).ok());
      return id;
    };
    kept = start_one(back);
    lost = start_one(gone);
  }  // crash
  auto c = Cluster::open(config_for(dir.path(), milliseconds(300)));
  ASSERT_TRUE(c.ok()) << c.status();
  Cluster& cl = **c;
  EXPECT_EQ(cl.get_job(kept)->state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(cl.get_job(lost)->state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(cl.list_nodes(false).size(), 2u) << "the node dead before the restart stays dead";
  v1::ConnectHello zombie;
  zombie.set_node_id(dead.node_id());
  zombie.set_epoch(dead.epoch());
  EXPECT_EQ(cl.attach(zombie, std::make_shared<RecordingSession>()).code(),
            absl::StatusCode::kFailedPrecondition);

  auto session = std::make_shared<RecordingSession>();
  v1::ConnectHello hello;
  hello.set_node_id(back.node_id());
  hello.set_epoch(back.epoch());
  hello.add_running_job_ids(kept);
  ASSERT_TRUE(cl.attach(hello, session).ok());
  cl.tick(std::chrono::steady_clock::now() + milliseconds(200));  // inside the window
  EXPECT_TRUE(cl.get_job(lost).ok());
  EXPECT_EQ(cl.get_job(lost)->state(), v1::JOB_STATE_RUNNING);
  // Window over: `gone` never came back; `back` keeps heartbeating.
  v1::AgentMessage hb;
  hb.mutable_heartbeat()->set_seq(1);
  ASSERT_TRUE(cl.on_agent_message(back.node_id(), back.epoch(), hb).ok());
  cl.tick(std::chrono::steady_clock::now() + milliseconds(400));
  EXPECT_EQ(cl.get_job(lost)->state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(cl.get_job(lost)->error().find("did not reconnect"), std::string::npos)
      << cl.get_job(lost)->error();
  EXPECT_EQ(cl.get_job(kept)->state(), v1::JOB_STATE_RUNNING);
  v1::AgentMessage exited;
  exited.mutable_job_event()->set_job_id(kept);
  exited.mutable_job_event()->set_kind(v1::JOB_EVENT_KIND_EXITED);
  ASSERT_TRUE(cl.on_agent_message(back.node_id(), back.epoch(), exited).ok());
  EXPECT_EQ(cl.get_job(kept)->state(), v1::JOB_STATE_SUCCEEDED);
}

TEST(ClusterLock, OneCoordinatorPerDataDirectory) {
  skein::testing::TempDir dir;
  auto first = Cluster::open(config_for(dir.path()));
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Cluster::open(config_for(dir.path()));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use"), absl::string_view::npos);
  first->reset();
  EXPECT_TRUE(Cluster::open(config_for(dir.path())).ok()) << "the lock goes with its owner";
}

}  // namespace
}  // namespace skein::coordinator
