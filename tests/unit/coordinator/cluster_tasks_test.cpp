// Task dispatch through a real Cluster (journal, membership, job table) with
// recording NodeSessions standing in for agent streams: what each node is
// sent is exactly what an agent would read off its Connect stream.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <thread>
#include <utility>

#include "cluster.hpp"
#include "skein/common/sha256.hpp"
#include "temp_dir.hpp"

namespace skein::coordinator {
namespace {

using std::chrono::milliseconds;

class RecordingSession : public NodeSession {
 public:
  void send(const v1::CoordinatorMessage& msg) override { sent.push_back(msg); }
  void close(const grpc::Status& status) override { closed.push_back(status); }
  std::vector<v1::CoordinatorMessage> take_unsent() override { return std::exchange(unsent, {}); }
  std::vector<v1::CoordinatorMessage> sent;
  std::vector<grpc::Status> closed;
  std::vector<v1::CoordinatorMessage> unsent;  // what the "broken stream" never wrote

  template <typename Pred>
  std::vector<v1::CoordinatorMessage> of(Pred pred) const {
    std::vector<v1::CoordinatorMessage> out;
    for (const auto& m : sent) {
      if (pred(m)) {
        out.push_back(m);
      }
    }
    return out;
  }
  std::vector<v1::CoordinatorMessage> tasks() const {
    return of([](const auto& m) { return m.has_tasks(); });
  }
  std::vector<v1::CoordinatorMessage> results() const {
    return of([](const auto& m) { return m.has_results(); });
  }
  int task_count() const {
    int n = 0;
    for (const auto& m : tasks()) {
      n += m.tasks().tasks_size();
    }
    return n;
  }
};

// Counts what it is sent and keeps nothing (the throughput test).
class CountingSession : public NodeSession {
 public:
  void send(const v1::CoordinatorMessage& msg) override { count(msg); }
  void send_owned(v1::CoordinatorMessage&& msg) override { count(msg); }
  void close(const grpc::Status&) override {}
  void count(const v1::CoordinatorMessage& msg) {
    ++messages;
    tasks += msg.has_tasks() ? msg.tasks().tasks_size() : 0;
    results += msg.has_results() ? msg.results().results_size() : 0;
  }
  int64_t messages = 0, tasks = 0, results = 0;
};

struct Node {
  v1::RegisterResponse reg;
  std::shared_ptr<RecordingSession> session;
  const std::string& id() const { return reg.node_id(); }
};

class ClusterTasksTest : public ::testing::Test {
 protected:
  void SetUp() override { open(); }

  void open() {
    ClusterConfig c;
    c.data_dir = dir_.path();
    c.membership = MembershipConfig{milliseconds(100), 5};
    c.recovery_window = milliseconds(0);
    auto cl = Cluster::open(c);
    ASSERT_TRUE(cl.ok()) << cl.status();
    cluster_ = *std::move(cl);
    std::string data = "a job binary";
    sha_ = sha256_hex(data);
    auto up = cluster_->binaries().begin_upload(sha_, data.size());
    ASSERT_TRUE(up.ok());
    ASSERT_TRUE((*up)->append(data).ok());
    ASSERT_TRUE((*up)->commit().ok());
  }

  // The node's agent connects again (same identity) on a fresh stream.
  void reattach(Node* n) {
    n->session = std::make_shared<RecordingSession>();
    v1::ConnectHello hello;
    hello.set_node_id(n->reg.node_id());
    hello.set_epoch(n->reg.epoch());
    EXPECT_TRUE(cluster_->attach(hello, n->session).ok());
  }

  Node add_node(int cpus, std::map<std::string, std::string> labels = {}) {
    v1::RegisterRequest rr;
    rr.mutable_resources()->set_cpus(cpus);
    rr.mutable_resources()->set_memory_bytes(int64_t{8} << 30);
    for (auto& [k, v] : labels) {
      (*rr.mutable_resources()->mutable_labels())[k] = v;
    }
    Node n;
    n.reg = *cluster_->register_node(rr);
    n.session = std::make_shared<RecordingSession>();
    v1::ConnectHello hello;
    hello.set_node_id(n.reg.node_id());
    hello.set_epoch(n.reg.epoch());
    EXPECT_TRUE(cluster_->attach(hello, n.session).ok());
    return n;
  }

  // A RUNNING job whose driver runs on `driver`.
  uint64_t running_job(const Node& driver, std::vector<std::string> functions = {},
                       bool known = false) {
    v1::SubmitJobRequest sr;
    sr.set_binary_sha256(sha_);
    sr.set_pinned_node(driver.id());
    sr.add_args("--leaves=10");
    sr.set_name("fib_job");
    for (auto& f : functions) {
      sr.add_remote_functions(f);
    }
    sr.set_remote_functions_known(known);
    auto s = cluster_->submit(sr);
    EXPECT_TRUE(s.ok()) << s.status();
    uint64_t id = s->job.job_id();
    event(driver, id, v1::JOB_EVENT_KIND_STARTED);
    EXPECT_EQ(cluster_->get_job(id)->state(), v1::JOB_STATE_RUNNING);
    return id;
  }

  void event(const Node& n, uint64_t job, v1::JobEventKind kind, int code = 0) {
    v1::AgentMessage m;
    m.mutable_job_event()->set_job_id(job);
    m.mutable_job_event()->set_kind(kind);
    m.mutable_job_event()->set_exit_code(code);
    ASSERT_TRUE(cluster_->on_agent_message(n.id(), n.reg.epoch(), m).ok());
  }

  // A TaskBatch as the owner's agent forwards it.
  static v1::AgentMessage batch(uint64_t job, const Node& owner, uint64_t worker, int n,
                                uint64_t first_id = 1, const std::string& fn = "fib",
                                v1::PlacementKind kind = v1::PLACEMENT_KIND_LEAST_LOADED) {
    v1::AgentMessage m;
    auto* b = m.mutable_tasks();
    b->set_job_id(job);
    b->mutable_owner()->set_node_id(owner.id());
    b->mutable_owner()->set_worker_id(worker);
    for (int i = 0; i < n; ++i) {
      auto* t = b->add_tasks();
      t->set_task_id(first_id + static_cast<uint64_t>(i));
      t->set_attempt(1);
      t->set_function(fn);
      t->set_args("args-" + std::to_string(first_id + static_cast<uint64_t>(i)));
      t->set_placement(kind);
    }
    return m;
  }

  absl::Status send(const Node& from, v1::AgentMessage m) {
    return cluster_->on_agent_message(from.id(), from.reg.epoch(), &m);
  }

  skein::testing::TempDir dir_;
  std::unique_ptr<Cluster> cluster_;
  std::string sha_;
};

TEST_F(ClusterTasksTest, ABatchSpreadsOverNodesAndStartJobPrecedesEachNodesFirstTasks) {
  Node a = add_node(2), b = add_node(2), c = add_node(2);
  uint64_t job = running_job(a);
  ASSERT_TRUE(send(a, batch(job, a, 7, 6)).ok());
  for (Node* n : {&a, &b, &c}) {
    EXPECT_EQ(n->session->task_count(), 2) << n->id();
    EXPECT_EQ(cluster_->tasks_in_flight_on(n->id()), 2);
    // One tasks message per target node for the incoming batch, after the
    // job's StartJob{driver: false} on that node.
    auto starts =
        n->session->of([](const auto& m) { return m.has_start_job() && !m.start_job().driver(); });
    ASSERT_EQ(starts.size(), 1u) << n->id();
    EXPECT_EQ(starts[0].start_job().job_id(), job);
    EXPECT_EQ(starts[0].start_job().binary_sha256(), sha_);
    EXPECT_EQ(starts[0].start_job().args(0), "--leaves=10");
    EXPECT_EQ(starts[0].start_job().name(), "fib_job");
    ASSERT_EQ(n->session->tasks().size(), 1u);
    size_t start_pos = 0, tasks_pos = 0;
    for (size_t i = 0; i < n->session->sent.size(); ++i) {
      const auto& m = n->session->sent[i];
      if (m.has_start_job() && !m.start_job().driver()) start_pos = i;
      if (m.has_tasks()) tasks_pos = i;
    }
    EXPECT_LT(start_pos, tasks_pos);
    const auto sent = n->session->tasks();
    const auto& tb = sent[0].tasks();
    EXPECT_EQ(tb.job_id(), job);
    EXPECT_EQ(tb.owner().node_id(), a.id());
    EXPECT_EQ(tb.owner().worker_id(), 7u);
    EXPECT_EQ(tb.tasks(0).args(), "args-" + std::to_string(tb.tasks(0).task_id()));
  }
  // A second batch reuses the warm workers: no second StartJob anywhere.
  ASSERT_TRUE(send(a, batch(job, a, 7, 3, 100)).ok());
  for (Node* n : {&a, &b, &c}) {
    EXPECT_EQ(
        n->session->of([](const auto& m) { return m.has_start_job() && !m.start_job().driver(); })
            .size(),
        1u);
    EXPECT_EQ(n->session->task_count(), 3);
  }
  EXPECT_EQ(cluster_->task_stats().in_flight, 9u);
  EXPECT_EQ(cluster_->task_stats().placed, 9u);
}

TEST_F(ClusterTasksTest, ReportedRunnableGoroutinesSteerLeastLoaded) {
  Node a = add_node(2), b = add_node(2);
  uint64_t job = running_job(a);
  v1::AgentMessage hb;
  hb.mutable_heartbeat()->set_seq(1);
  hb.mutable_heartbeat()->mutable_load()->set_runnable_goroutines(10);
  ASSERT_TRUE(send(a, hb).ok());
  ASSERT_TRUE(send(a, batch(job, a, 1, 10)).ok());
  EXPECT_EQ(b.session->task_count(), 10) << "the owner's node reports 10 runnable goroutines";
  EXPECT_EQ(a.session->task_count(), 0);
}

TEST_F(ClusterTasksTest, PinnedAndSpreadPlaceWhereTheySay) {
  Node a = add_node(2), b = add_node(2), c = add_node(2);
  uint64_t job = running_job(a);
  auto pinned = batch(job, a, 1, 5, 1, "fib", v1::PLACEMENT_KIND_PINNED);
  for (auto& t : *pinned.mutable_tasks()->mutable_tasks()) {
    t.set_pinned_node(c.id());
  }
  ASSERT_TRUE(send(a, pinned).ok());
  EXPECT_EQ(c.session->task_count(), 5);
  EXPECT_EQ(a.session->task_count() + b.session->task_count(), 0);
  ASSERT_TRUE(send(a, batch(job, a, 1, 6, 10, "fib", v1::PLACEMENT_KIND_SPREAD)).ok());
  EXPECT_EQ(a.session->task_count(), 2);
  EXPECT_EQ(b.session->task_count(), 2);
  EXPECT_EQ(c.session->task_count(), 7) << "spread ignores load";
}

TEST_F(ClusterTasksTest, ResultsClearInFlightAndGoToTheOwnersNodeOnly) {
  Node a = add_node(2), b = add_node(2);
  uint64_t job = running_job(a);
  auto pinned = batch(job, a, 4, 3, 1, "fib", v1::PLACEMENT_KIND_PINNED);
  for (auto& t : *pinned.mutable_tasks()->mutable_tasks()) {
    t.set_pinned_node(b.id());
  }
  ASSERT_TRUE(send(a, pinned).ok());
  ASSERT_EQ(cluster_->tasks_in_flight_on(b.id()), 3);

  v1::AgentMessage res;
  auto* rb = res.mutable_results();
  rb->set_job_id(job);
  rb->mutable_owner()->set_node_id(a.id());
  rb->mutable_owner()->set_worker_id(4);
  for (uint64_t id : {1, 2}) {
    auto* r = rb->add_results();
    r->set_task_id(id);
    r->set_attempt(1);
    r->set_result("value-" + std::to_string(id));
  }
  auto* stale = rb->add_results();  // an older attempt's late result: forwarded, record kept
  stale->set_task_id(3);
  stale->set_attempt(0);
  ASSERT_TRUE(send(b, res).ok());
  EXPECT_EQ(cluster_->tasks_in_flight_on(b.id()), 1);
  ASSERT_EQ(a.session->results().size(), 1u);
  const auto forwarded = a.session->results();
  const auto& got = forwarded[0].results();
  EXPECT_EQ(got.job_id(), job);
  EXPECT_EQ(got.owner().worker_id(), 4u);
  ASSERT_EQ(got.results_size(), 3);
  EXPECT_EQ(got.results(0).result(), "value-1");
  EXPECT_EQ(got.results(1).node(), b.id()) << "the reporting node fills an empty node";
  EXPECT_TRUE(b.session->results().empty());
}

TEST_F(ClusterTasksTest, NodeDeathReturnsItsTasksToTheirOwnersAsNodeLost) {
  Node a = add_node(2), b = add_node(2), c = add_node(2);
  uint64_t job = running_job(a);
  ASSERT_TRUE(send(a, batch(job, a, 9, 6)).ok());
  ASSERT_EQ(cluster_->tasks_in_flight_on(b.id()), 2);
  // b falls silent; a and c keep heartbeating.
  std::this_thread::sleep_for(milliseconds(300));
  v1::AgentMessage hb;
  hb.mutable_heartbeat()->set_seq(1);
  ASSERT_TRUE(send(a, hb).ok());
  ASSERT_TRUE(send(c, hb).ok());
  cluster_->tick(std::chrono::steady_clock::now() + milliseconds(250));
  ASSERT_FALSE(cluster_->list_nodes(false).empty());
  ASSERT_EQ(cluster_->list_nodes(false).size(), 2u) << "only b is dead";

  auto lost = a.session->results();
  ASSERT_EQ(lost.size(), 1u);
  const auto& rb = lost[0].results();
  EXPECT_EQ(rb.job_id(), job);
  EXPECT_EQ(rb.owner().node_id(), a.id());
  EXPECT_EQ(rb.owner().worker_id(), 9u);
  ASSERT_EQ(rb.results_size(), 2);
  for (const auto& r : rb.results()) {
    EXPECT_EQ(r.error(), 6u);
    EXPECT_EQ(r.node(), b.id());
    EXPECT_EQ(r.attempt(), 1u);
    EXPECT_TRUE(r.message().starts_with("node " + b.id() + " declared dead: no heartbeat for"))
        << r.message();
  }
  EXPECT_EQ(cluster_->tasks_in_flight_on(b.id()), 0);
  EXPECT_EQ(cluster_->task_stats().in_flight, 4u);
  EXPECT_EQ(cluster_->task_stats().node_lost, 2u);
  // The owner retries (attempt 2): placed on the survivors only.
  auto retry = batch(job, a, 9, 2, 1);
  for (int i = 0; i < 2; ++i) {
    retry.mutable_tasks()->mutable_tasks(i)->set_task_id(rb.results(i).task_id());
    retry.mutable_tasks()->mutable_tasks(i)->set_attempt(2);
  }
  ASSERT_TRUE(send(a, retry).ok());
  EXPECT_EQ(cluster_->task_stats().in_flight, 6u);
  EXPECT_EQ(cluster_->tasks_in_flight_on(b.id()), 0);
  // A late result from the dead node is fenced off with its whole stream.
  v1::AgentMessage late;
  late.mutable_results()->set_job_id(job);
  late.mutable_results()->mutable_owner()->set_node_id(a.id());
  late.mutable_results()->add_results()->set_task_id(1);
  EXPECT_EQ(send(b, late).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ClusterTasksTest, JobEndForgetsItsTasksAndCancelsWorkersOnEveryNode) {
  Node a = add_node(2), b = add_node(2), c = add_node(2);
  uint64_t job = running_job(a);
  auto pinned = batch(job, a, 1, 4, 1, "fib", v1::PLACEMENT_KIND_SPREAD);
  ASSERT_TRUE(send(a, pinned).ok());
  ASSERT_GT(b.session->task_count(), 0);
  ASSERT_GT(c.session->task_count(), 0);
  event(a, job, v1::JOB_EVENT_KIND_EXITED, 0);
  ASSERT_EQ(cluster_->get_job(job)->state(), v1::JOB_STATE_SUCCEEDED);
  for (Node* n : {&a, &b, &c}) {
    auto cancels = n->session->of([](const auto& m) { return m.has_cancel_job(); });
    ASSERT_EQ(cancels.size(), 1u) << n->id() << " ran task workers of the job";
    EXPECT_EQ(cancels[0].cancel_job().job_id(), job);
  }
  EXPECT_EQ(cluster_->task_stats().in_flight, 0u);
  // Results after the end: nobody waits for them.
  v1::AgentMessage late;
  late.mutable_results()->set_job_id(job);
  late.mutable_results()->mutable_owner()->set_node_id(a.id());
  late.mutable_results()->add_results()->set_task_id(1);
  ASSERT_TRUE(send(b, late).ok());
  EXPECT_TRUE(a.session->results().empty());
  EXPECT_EQ(cluster_->task_stats().results_dropped, 1u);
  // Spawns after the end are refused as canceled.
  ASSERT_TRUE(send(a, batch(job, a, 1, 1, 50)).ok());
  ASSERT_EQ(a.session->results().size(), 1u);
  EXPECT_EQ(a.session->results()[0].results().results(0).error(), 9u);
}

TEST_F(ClusterTasksTest, CancelOfARunningJobReachesItsTaskWorkerNodesToo) {
  Node a = add_node(2), b = add_node(2);
  uint64_t job = running_job(a);
  ASSERT_TRUE(send(a, batch(job, a, 1, 4)).ok());
  ASSERT_GT(b.session->task_count(), 0);
  ASSERT_TRUE(cluster_->cancel_job(job, "user").ok());
  for (Node* n : {&a, &b}) {
    EXPECT_EQ(n->session->of([](const auto& m) { return m.has_cancel_job(); }).size(), 1u)
        << n->id();
  }
  // While the cancel is pending, new spawns are refused.
  ASSERT_TRUE(send(a, batch(job, a, 1, 1, 90)).ok());
  auto res = a.session->results();
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].results().results(0).error(), 9u);
  EXPECT_EQ(res[0].results().results(0).message(),
            "job " + std::to_string(job) + " is not running (cancel requested)");
}

TEST_F(ClusterTasksTest, UnknownFunctionsAndNonRunningJobsAreAnsweredAtOnce) {
  Node a = add_node(2);
  uint64_t job = running_job(a, {"fib", "visit"}, /*known=*/true);
  auto m = batch(job, a, 3, 3, 1, "fib");
  m.mutable_tasks()->mutable_tasks(1)->set_function("fibb");
  ASSERT_TRUE(send(a, m).ok());
  EXPECT_EQ(a.session->task_count(), 2);
  auto res = a.session->results();
  ASSERT_EQ(res.size(), 1u);
  ASSERT_EQ(res[0].results().results_size(), 1);
  const auto& r = res[0].results().results(0);
  EXPECT_EQ(r.task_id(), 2u);
  EXPECT_EQ(r.error(), 3u);
  EXPECT_EQ(r.message(), "'fibb' is not a SKEIN_REMOTE function of job " + std::to_string(job) +
                             "'s binary (2 listed at submit)");
  // Not listed at submit: every name is placed.
  uint64_t unlisted = running_job(a);
  ASSERT_TRUE(send(a, batch(unlisted, a, 3, 1, 1, "anything")).ok());
  EXPECT_EQ(a.session->task_count(), 3);
  // A job that does not exist.
  ASSERT_TRUE(send(a, batch(4242, a, 3, 1)).ok());
  res = a.session->results();
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(res[1].results().results(0).error(), 9u);
  EXPECT_EQ(res[1].results().results(0).message(), "job 4242 does not exist");
}

// The agent relays job events and task batches on separate queues, so a
// driver's first spawns can overtake its STARTED event: a PENDING job that was
// sent to a node already takes tasks.
TEST_F(ClusterTasksTest, TasksOfAStartedJobArriveBeforeItsStartedEventArePlaced) {
  Node a = add_node(2);
  v1::SubmitJobRequest sr;
  sr.set_binary_sha256(sha_);
  sr.set_pinned_node(a.id());
  auto s = cluster_->submit(sr);
  ASSERT_TRUE(s.ok()) << s.status();
  const uint64_t job = s->job.job_id();
  ASSERT_EQ(cluster_->get_job(job)->state(), v1::JOB_STATE_PENDING);
  ASSERT_FALSE(cluster_->get_job(job)->driver_node().empty());
  ASSERT_TRUE(send(a, batch(job, a, 3, 2)).ok());
  EXPECT_EQ(a.session->task_count(), 2);
  EXPECT_TRUE(a.session->results().empty());
}

TEST_F(ClusterTasksTest, UnsatisfiableResourcesFailAtOnceSayingWhy) {
  Node a = add_node(2, {{"zone", "a"}}), b = add_node(4, {{"zone", "b"}});
  uint64_t job = running_job(a);
  auto m = batch(job, a, 1, 2);
  m.mutable_tasks()->mutable_tasks(0)->mutable_resources()->set_cpus(16);
  m.mutable_tasks()->mutable_tasks(1)->mutable_resources()->add_labels("zone=b");
  ASSERT_TRUE(send(a, m).ok());
  EXPECT_EQ(b.session->task_count(), 1) << "the satisfiable one";
  auto res = a.session->results();
  ASSERT_EQ(res.size(), 1u);
  const auto& r = res[0].results().results(0);
  EXPECT_EQ(r.error(), 8u);
  EXPECT_EQ(r.message(), "no node can run fib (least_loaded, cpus>=16): " + a.id() +
                             ": 2 cpus < 16; " + b.id() + ": 4 cpus < 16");
}

TEST_F(ClusterTasksTest, ABatchClaimingAnotherNodesOwnerIsDropped) {
  Node a = add_node(2), b = add_node(2);
  uint64_t job = running_job(a);
  ASSERT_TRUE(send(b, batch(job, a, 1, 3)).ok());
  EXPECT_EQ(a.session->task_count() + b.session->task_count(), 0);
  EXPECT_EQ(cluster_->task_stats().malformed, 3u);
}

TEST_F(ClusterTasksTest, FunctionListIsJournaledWithTheJob) {
  Node a = add_node(2);
  uint64_t job = running_job(a, {"fib", "visit"}, true);
  v1::SubmitJobRequest bad;
  bad.set_binary_sha256(sha_);
  bad.add_remote_functions("fib");  // names without known = true
  EXPECT_EQ(cluster_->submit(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad.set_remote_functions_known(true);
  bad.add_remote_functions("");
  EXPECT_EQ(cluster_->submit(bad).status().code(), absl::StatusCode::kInvalidArgument);
  cluster_.reset();  // "crash"
  open();
  auto j = cluster_->get_job(job);
  ASSERT_TRUE(j.ok());
  EXPECT_TRUE(j->remote_functions_known());
  ASSERT_EQ(j->remote_functions_size(), 2);
  EXPECT_EQ(j->remote_functions(0), "fib");
  EXPECT_EQ(j->remote_functions(1), "visit");
}

TEST_F(ClusterTasksTest, ResultsForALiveOwnerWithoutAStreamWaitForItsNextStream) {
  Node a = add_node(2), b = add_node(2);
  uint64_t job = running_job(a);
  auto pinned = batch(job, a, 4, 2, 1, "fib", v1::PLACEMENT_KIND_PINNED);
  for (auto& t : *pinned.mutable_tasks()->mutable_tasks()) {
    t.set_pinned_node(b.id());
  }
  ASSERT_TRUE(send(a, pinned).ok());
  cluster_->detach(a.id(), a.session.get());  // a's stream broke; a is still alive

  v1::AgentMessage res;
  res.mutable_results()->set_job_id(job);
  res.mutable_results()->mutable_owner()->set_node_id(a.id());
  res.mutable_results()->mutable_owner()->set_worker_id(4);
  for (uint64_t id : {1, 2}) {
    res.mutable_results()->add_results()->set_task_id(id);
    res.mutable_results()->mutable_results()->rbegin()->set_attempt(1);
  }
  ASSERT_TRUE(send(b, res).ok());
  EXPECT_EQ(cluster_->task_stats().parked, 1u);
  EXPECT_EQ(cluster_->task_stats().in_flight, 0u);

  reattach(&a);
  ASSERT_GE(a.session->sent.size(), 2u);
  EXPECT_TRUE(a.session->sent[0].has_ack());
  ASSERT_TRUE(a.session->sent[1].has_results()) << "held results follow the ack";
  EXPECT_EQ(a.session->sent[1].results().results_size(), 2);
  EXPECT_EQ(cluster_->task_stats().results_dropped, 0u);
}

TEST_F(ClusterTasksTest, WhatABrokenStreamNeverWroteIsSentOnTheNextOne) {
  Node a = add_node(2), b = add_node(2);
  uint64_t job = running_job(a);
  auto pinned = batch(job, a, 1, 3, 1, "fib", v1::PLACEMENT_KIND_PINNED);
  for (auto& t : *pinned.mutable_tasks()->mutable_tasks()) {
    t.set_pinned_node(b.id());
  }
  ASSERT_TRUE(send(a, pinned).ok());
  // b's stream breaks before writing anything: its queue comes back.
  b.session->unsent = std::exchange(b.session->sent, {});
  b.session->unsent.insert(b.session->unsent.begin(), v1::CoordinatorMessage());
  b.session->unsent.front().mutable_ack();  // never re-sent: attach sends its own
  cluster_->detach(b.id(), b.session.get());
  reattach(&b);
  ASSERT_EQ(b.session->sent.size(), 3u);
  EXPECT_TRUE(b.session->sent[0].has_ack());
  EXPECT_TRUE(b.session->sent[1].has_start_job());
  EXPECT_FALSE(b.session->sent[1].start_job().driver());
  EXPECT_EQ(b.session->sent[2].tasks().tasks_size(), 3);
  EXPECT_EQ(cluster_->tasks_in_flight_on(b.id()), 3);

  // Held messages of a node that dies instead are dropped with it, and its
  // tasks come back to their owner as node lost.
  b.session->unsent = std::exchange(b.session->sent, {});
  cluster_->detach(b.id(), b.session.get());
  EXPECT_EQ(cluster_->task_stats().parked, 4u);
  std::this_thread::sleep_for(milliseconds(300));
  v1::AgentMessage hb;
  hb.mutable_heartbeat()->set_seq(1);
  ASSERT_TRUE(send(a, hb).ok());
  cluster_->tick(std::chrono::steady_clock::now() + milliseconds(250));
  EXPECT_EQ(cluster_->task_stats().parked_dropped, 2u) << "StartJob and tasks";
  auto lost = a.session->results();
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].results().results_size(), 3);
  EXPECT_EQ(lost[0].results().results(0).error(), 6u);
}

// The hot path end to end inside the coordinator: 200,000 tasks from one
// owner in batches of 1,024, placed over 3 nodes, then all their results.
// Prints the rate and the in-flight table's bytes per task at the peak.
TEST_F(ClusterTasksTest, TwoHundredThousandTasksThroughPlacementAndBack) {
  constexpr int kTasks = 200000;
  constexpr int kBatch = 1024;
  std::vector<std::pair<v1::RegisterResponse, std::shared_ptr<CountingSession>>> nodes;
  for (int i = 0; i < 3; ++i) {
    v1::RegisterRequest rr;
    rr.mutable_resources()->set_cpus(2);
    auto reg = *cluster_->register_node(rr);
    auto s = std::make_shared<CountingSession>();
    v1::ConnectHello hello;
    hello.set_node_id(reg.node_id());
    hello.set_epoch(reg.epoch());
    ASSERT_TRUE(cluster_->attach(hello, s).ok());
    nodes.emplace_back(reg, s);
  }
  Node owner{nodes[0].first, nullptr};
  uint64_t job = running_job(owner, {"fib"}, true);

  // Batches are built before the clock starts: the agent's work, not ours.
  std::vector<v1::AgentMessage> batches;
  for (int first = 1; first <= kTasks; first += kBatch) {
    batches.push_back(
        batch(job, owner, 1, std::min(kBatch, kTasks - first + 1), static_cast<uint64_t>(first)));
  }
  auto t0 = std::chrono::steady_clock::now();
  for (auto& b : batches) {
    ASSERT_TRUE(cluster_->on_agent_message(owner.id(), owner.reg.epoch(), &b).ok());
  }
  auto t1 = std::chrono::steady_clock::now();
  auto stats = cluster_->task_stats();
  ASSERT_EQ(stats.in_flight, static_cast<size_t>(kTasks));
  int64_t placed = 0;
  for (auto& [reg, s] : nodes) {
    placed += s->tasks;
    EXPECT_NEAR(static_cast<double>(s->tasks), kTasks / 3.0, kBatch) << reg.node_id();
  }
  EXPECT_EQ(placed, kTasks);

  // Results come back from each node for the tasks placed there; the owner
  // is on nodes[0]. Build one ResultBatch per node per 1,024 tasks.
  std::vector<std::pair<size_t, v1::AgentMessage>> results;
  {
    // Which node got which task is not observable through CountingSession,
    // so every node reports results for a share of ids; complete() only
    // clears a record whose attempt matches, and every attempt is 1.
    for (int first = 1; first <= kTasks; first += kBatch) {
      v1::AgentMessage m;
      auto* rb = m.mutable_results();
      rb->set_job_id(job);
      rb->mutable_owner()->set_node_id(owner.id());
      rb->mutable_owner()->set_worker_id(1);
      for (int id = first; id < std::min(first + kBatch, kTasks + 1); ++id) {
        auto* r = rb->add_results();
        r->set_task_id(static_cast<uint64_t>(id));
        r->set_attempt(1);
      }
      results.emplace_back(static_cast<size_t>(first / kBatch) % 3, std::move(m));
    }
  }
  auto t2 = std::chrono::steady_clock::now();
  for (auto& [n, m] : results) {
    ASSERT_TRUE(
        cluster_->on_agent_message(nodes[n].first.node_id(), nodes[n].first.epoch(), &m).ok());
  }
  auto t3 = std::chrono::steady_clock::now();
  EXPECT_EQ(cluster_->task_stats().in_flight, 0u);
  EXPECT_EQ(nodes[0].second->results, kTasks);

  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  double place_rate = kTasks / secs(t1 - t0);
  double result_rate = kTasks / secs(t3 - t2);
  std::printf(
      "coordinator hot path: %d tasks placed in %.1f ms (%.0f tasks/s), results routed in %.1f ms "
      "(%.0f results/s); in-flight table at peak %.1f bytes/task\n",
      kTasks, secs(t1 - t0) * 1e3, place_rate, secs(t3 - t2) * 1e3, result_rate,
      static_cast<double>(stats.table_bytes) / kTasks);
  // Floors well under what an idle core does (see the printed figures), so a
  // loaded shared machine does not fail them, yet a per-task slowdown would.
  EXPECT_GT(place_rate, 200000.0);
  EXPECT_GT(result_rate, 200000.0);
  EXPECT_LT(static_cast<double>(stats.table_bytes) / kTasks, 80.0);
}

// DistWaitGroup deltas (docs/wire.md "Wait groups"): forwarded to the node of
// the group's owner, untouched and in order, only while the job runs and only
// to a node this coordinator knows; nothing is recorded in flight.
TEST_F(ClusterTasksTest, WaitGroupDeltasGoToTheGroupOwnersNodeWhileTheJobRuns) {
  Node a = add_node(2), b = add_node(2);
  uint64_t job = running_job(a);
  const auto deltas = [&](const std::string& owner_node, uint64_t worker,
                          std::vector<std::pair<uint64_t, int64_t>> ds, uint64_t job_id) {
    v1::AgentMessage m;
    auto* d = m.mutable_wg_deltas();
    d->set_job_id(job_id);
    d->mutable_owner()->set_node_id(owner_node);
    d->mutable_owner()->set_worker_id(worker);
    for (auto [g, v] : ds) {
      auto* e = d->add_deltas();
      e->set_group_id(g);
      e->set_delta(v);
    }
    return m;
  };
  const auto wg_msgs = [](const Node& n) {
    return n.session->of([](const auto& m) { return m.has_wg_deltas(); });
  };
  // From b (a task worker there) to the driver's group on a.
  ASSERT_TRUE(send(b, deltas(a.id(), 7, {{3, -1}, {3, 2}, {9, -5}}, job)).ok());
  auto to_a = wg_msgs(a);
  ASSERT_EQ(to_a.size(), 1u);
  const auto& w = to_a[0].wg_deltas();
  EXPECT_EQ(w.job_id(), job);
  EXPECT_EQ(w.owner().node_id(), a.id());
  EXPECT_EQ(w.owner().worker_id(), 7u);
  ASSERT_EQ(w.deltas_size(), 3);
  EXPECT_EQ(w.deltas(0).group_id(), 3u);
  EXPECT_EQ(w.deltas(0).delta(), -1);
  EXPECT_EQ(w.deltas(1).delta(), 2);
  EXPECT_EQ(w.deltas(2).group_id(), 9u);
  EXPECT_EQ(w.deltas(2).delta(), -5);
  EXPECT_TRUE(wg_msgs(b).empty());
  EXPECT_EQ(cluster_->task_stats().in_flight, 0u);
  EXPECT_EQ(cluster_->task_stats().wg_deltas, 3u);

  // Unknown job, unknown owner node, no owner worker: dropped and counted.
  ASSERT_TRUE(send(b, deltas(a.id(), 7, {{3, -1}}, job + 100)).ok());
  ASSERT_TRUE(send(b, deltas("no-such-node", 7, {{3, -1}}, job)).ok());
  ASSERT_TRUE(send(b, deltas(a.id(), 0, {{3, -1}}, job)).ok());
  EXPECT_EQ(wg_msgs(a).size(), 1u);
  EXPECT_EQ(cluster_->task_stats().wg_deltas_dropped, 3u);

  // The job ended: nobody waits on its groups any more.
  event(a, job, v1::JOB_EVENT_KIND_EXITED, 0);
  ASSERT_TRUE(send(b, deltas(a.id(), 7, {{3, -1}, {4, -1}}, job)).ok());
  EXPECT_EQ(wg_msgs(a).size(), 1u);
  EXPECT_EQ(cluster_->task_stats().wg_deltas_dropped, 5u);
  EXPECT_EQ(cluster_->task_stats().wg_deltas, 3u);
}

}  // namespace
}  // namespace skein::coordinator
