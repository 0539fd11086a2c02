// The worker side of task dispatch (ClusterTransport, TaskRunner, AgentLink's
// reader) against a fake agent speaking the real frames on a real Unix socket
// (fake_agent.hpp): what leaves the owner, what the owner does with results,
// worker deaths and poison, the backpressure window, a lost agent, local_first,
// batching, and a task worker's results per owner.
#include "worker/cluster_transport.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "fake_agent.hpp"
#include "remote/owner_table.hpp"
#include "skein/blocking.hpp"
#include "skein/detail/serialize.hpp"
#include "skein/future.hpp"
#include "skein/go.hpp"
#include "skein/remote.hpp"
#include "skein/runtime.hpp"
#include "skein/time.hpp"
#include "skein/waitgroup.hpp"
#include "worker/agent_link.hpp"
#include "worker/task_runner.hpp"
#include "worker_harness.hpp"

namespace {

int add(int a, int b) { return a + b; }
int nap(int ms) {
  skein::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
std::size_t measure(std::string s) { return s.size(); }

}  // namespace

SKEIN_REMOTE(add);
SKEIN_REMOTE(nap);
SKEIN_REMOTE(measure);

namespace skein::node {
namespace {

using namespace std::chrono_literals;
using detail::encode;
using testing::FakeAgent;
using testing::in_runtime;
using testing::Worker;

// Reads TaskBatch frames until n tasks arrived (or the time is up). Frame
// sizes go to *frames when given.
std::vector<skein::v1::Task> take_tasks(FakeAgent& agent, std::size_t n,
                                        std::chrono::milliseconds timeout = 5s,
                                        std::vector<int>* frames = nullptr) {
  std::vector<skein::v1::Task> out;
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (out.size() < n && std::chrono::steady_clock::now() < end) {
    auto m = blocking([&] {
      return agent.next(std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now()));
    });
    if (!m) {
      break;
    }
    if (!m->has_tasks()) {
      ADD_FAILURE() << "unexpected frame from the worker: " << m->ShortDebugString();
      continue;
    }
    EXPECT_EQ(m->tasks().job_id(), 0u) << "job_id is the agent's to fill";
    EXPECT_FALSE(m->tasks().has_owner()) << "owner is the agent's to fill";
    if (frames != nullptr) {
      frames->push_back(m->tasks().tasks_size());
    }
    for (const auto& t : m->tasks().tasks()) {
      out.push_back(t);
    }
  }
  return out;
}

skein::v1::TaskResult success(const skein::v1::Task& t, std::string node = "n2") {
  skein::v1::TaskResult r;
  r.set_task_id(t.task_id());
  r.set_attempt(t.attempt());
  if (t.function() == "add") {
    auto [a, b] = detail::decode<std::tuple<int, int>>(t.args());
    r.set_result(encode(a + b));
  } else if (t.function() == "nap") {
    r.set_result(encode(std::get<0>(detail::decode<std::tuple<int>>(t.args()))));
  } else if (t.function() == "measure") {
    r.set_result(encode(std::get<0>(detail::decode<std::tuple<std::string>>(t.args())).size()));
  }
  if (!t.wants_result()) {
    r.clear_result();
  }
  r.set_node(std::move(node));
  return r;
}

skein::v1::TaskResult failure(const skein::v1::Task& t, TaskError e, std::string message) {
  skein::v1::TaskResult r;
  r.set_task_id(t.task_id());
  r.set_attempt(t.attempt());
  r.set_error(static_cast<std::uint32_t>(e));
  r.set_message(std::move(message));
  r.set_node("n2");
  return r;
}

bool reply(FakeAgent& agent, std::vector<skein::v1::TaskResult> results) {
  skein::v1::AgentToWorker m;
  auto* batch = m.mutable_results();
  batch->set_job_id(5);
  batch->mutable_owner()->set_node_id("n-test");
  batch->mutable_owner()->set_worker_id(7);
  for (auto& r : results) {
    *batch->add_results() = std::move(r);
  }
  return agent.send(m);
}

template <class T>
TaskError error_of(Future<T>& f) {
  try {
    f.get();
  } catch (const RemoteError& e) {
    return e.kind();
  }
  return TaskError::kNone;
}

template <class T>
std::string message_of(Future<T>& f) {
  try {
    f.get();
  } catch (const RemoteError& e) {
    return e.what();
  }
  return "";
}

TEST(ClusterTransport, SpawnsLeaveAsTaskBatchesAndResultsSettleFutures) {
  FakeAgent agent;
  in_runtime(2, [&] {
    Worker w(agent);
    ASSERT_TRUE(w.connected().ok()) << w.connected();
    auto hello = agent.hello(1s);
    ASSERT_TRUE(hello.has_value());
    EXPECT_EQ(hello->job_id(), 5u);
    EXPECT_EQ(hello->role(), skein::v1::WORKER_ROLE_DRIVER);
    EXPECT_EQ(w.transport().node_name(), "n-test");  // from the HelloAck

    Future<int> f1 = w.launch("add", encode(std::make_tuple(2, 3)));
    Future<int> f2 =
        w.launch("add", encode(std::make_tuple(1, 1)),
                 SpawnOptions{.placement = Placement::pinned("n9"),
                              .resources = {.cpus = 2, .memory_bytes = 1 << 20, .labels = {"gpu"}},
                              .max_retries = 0,
                              .deadline = 10s});
    DistWaitGroup wg;
    w.launch(wg, "add", encode(std::make_tuple(7, 7)),
             SpawnOptions{.placement = Placement::spread()});

    std::vector<skein::v1::Task> tasks = take_tasks(agent, 3);
    ASSERT_EQ(tasks.size(), 3u);
    EXPECT_EQ(tasks[0].function(), "add");
    EXPECT_EQ(tasks[0].attempt(), 1u);
    EXPECT_EQ(tasks[0].placement(), skein::v1::PLACEMENT_KIND_LEAST_LOADED);
    EXPECT_TRUE(tasks[0].wants_result());
    EXPECT_EQ(tasks[0].deadline_ms(), 0u);
    EXPECT_EQ(tasks[1].placement(), skein::v1::PLACEMENT_KIND_PINNED);
    EXPECT_EQ(tasks[1].pinned_node(), "n9");
    EXPECT_EQ(tasks[1].resources().cpus(), 2);
    EXPECT_EQ(tasks[1].resources().memory_bytes(), 1u << 20);
    ASSERT_EQ(tasks[1].resources().labels_size(), 1);
    EXPECT_EQ(tasks[1].resources().labels(0), "gpu");
    EXPECT_GT(tasks[1].deadline_ms(), 9000u);
    EXPECT_LE(tasks[1].deadline_ms(), 10000u);
    EXPECT_EQ(tasks[2].placement(), skein::v1::PLACEMENT_KIND_SPREAD);
    EXPECT_FALSE(tasks[2].wants_result());
    std::set<std::uint64_t> ids{tasks[0].task_id(), tasks[1].task_id(), tasks[2].task_id()};
    EXPECT_EQ(ids.size(), 3u);

    std::vector<skein::v1::TaskResult> results;
    for (const auto& t : tasks) {
      results.push_back(success(t));
    }
    ASSERT_TRUE(reply(agent, results));
    ASSERT_TRUE(reply(agent, results));  // re-sent after a broken stream: duplicates
    EXPECT_EQ(f1.get(), 5);
    EXPECT_EQ(f2.get(), 2);
    wg.wait();
    for (int i = 0; i < 200 && w.table().counters().duplicates < 3; ++i) {
      sleep_for(5ms);
    }
    EXPECT_EQ(w.table().counters().duplicates, 3u);
    EXPECT_EQ(w.table().counters().succeeded, 3u);
    EXPECT_EQ(w.transport().counters().results, 6u);
  });
}

TEST(ClusterTransport, WorkerDeathsAreRetriedAndTheThirdPoisonsTheTask) {
  FakeAgent agent;
  in_runtime(2, [&] {
    Worker w(agent);
    ASSERT_TRUE(w.connected().ok());
    Future<int> poison = w.launch("add", encode(std::make_tuple(1, 2)), {.max_retries = 10});
    Future<int> moved = w.launch("add", encode(std::make_tuple(3, 4)), {.max_retries = 10});
    std::vector<skein::v1::Task> t = take_tasks(agent, 2);
    ASSERT_EQ(t.size(), 2u);
    const std::uint64_t poison_id = t[0].task_id();
    for (std::uint32_t attempt = 1; attempt <= 3; ++attempt) {
      ASSERT_EQ(t[0].attempt(), attempt);
      ASSERT_EQ(t[1].attempt(), attempt);
      const std::string how = attempt == 3 ? "signal 11 (Segmentation fault)" : "signal 9 (Killed)";
      // The poison task's worker dies; the other task's node is declared
      // dead, which is not a worker death (no poison count).
      ASSERT_TRUE(reply(agent, {failure(t[0], TaskError::kWorkerLost,
                                        "worker pid 812 on node n2 killed by " + how),
                                failure(t[1], TaskError::kNodeLost, "node n2 declared dead")}));
      if (attempt < 3) {
        // The stale loss of the attempt just retried changes nothing.
        ASSERT_TRUE(reply(agent, {failure(t[0], TaskError::kWorkerLost, "again")}));
        t = take_tasks(agent, 2);
        ASSERT_EQ(t.size(), 2u);
        if (t[1].task_id() == poison_id) {
          std::swap(t[0], t[1]);
        }
        EXPECT_EQ(t[0].task_id(), poison_id);
        EXPECT_EQ(t[0].args(), encode(std::make_tuple(1, 2)));
      }
    }
    EXPECT_EQ(error_of(poison), TaskError::kPoisoned);
    const std::string why = message_of(poison);
    EXPECT_NE(why.find("task " + std::to_string(poison_id) + " (add)"), std::string::npos) << why;
    EXPECT_NE(why.find("3 worker deaths"), std::string::npos) << why;
    EXPECT_NE(why.find("signal 11 (Segmentation fault)"), std::string::npos) << why;
    // The node-lost task got attempt 4; it succeeds there.
    std::vector<skein::v1::Task> last = take_tasks(agent, 1);
    ASSERT_EQ(last.size(), 1u);
    EXPECT_EQ(last[0].attempt(), 4u);
    EXPECT_NE(last[0].task_id(), poison_id);
    ASSERT_TRUE(reply(agent, {success(last[0])}));
    EXPECT_EQ(moved.get(), 7);
    EXPECT_EQ(take_tasks(agent, 1, 100ms).size(), 0u);  // no fourth run of the poison
    EXPECT_EQ(w.table().counters().poisoned, 1u);
  });
}

TEST(ClusterTransport, AFullWindowParksSpawnersUntilResultsArrive) {
  FakeAgent agent;
  in_runtime(2, [&] {
    Worker w(agent, ClusterTransportOptions{.window = 8});
    ASSERT_TRUE(w.connected().ok());
    constexpr std::size_t kSpawners = 20;
    std::atomic<std::size_t> launched{0};
    WaitGroup spawned;
    std::vector<Future<int>> futures(kSpawners, Future<int>());
    spawned.add(kSpawners);
    for (std::size_t i = 0; i < kSpawners; ++i) {
      go([&, i] {
        futures[i] = w.launch("add", encode(std::make_tuple(static_cast<int>(i), 0)));
        launched.fetch_add(1);
        spawned.done();
      });
    }
    std::vector<skein::v1::Task> first = take_tasks(agent, 8);
    ASSERT_EQ(first.size(), 8u);
    EXPECT_EQ(take_tasks(agent, 1, 200ms).size(), 0u) << "more than the window in flight";
    EXPECT_EQ(launched.load(), 8u);  // the other 12 spawners are parked
    EXPECT_GT(w.transport().counters().window_waits, 0u);

    std::vector<skein::v1::TaskResult> done;
    for (int i = 0; i < 5; ++i) {
      done.push_back(success(first[i]));
    }
    ASSERT_TRUE(reply(agent, done));
    std::vector<skein::v1::Task> second = take_tasks(agent, 5);
    ASSERT_EQ(second.size(), 5u);
    EXPECT_EQ(take_tasks(agent, 1, 100ms).size(), 0u);

    // Each result lets one parked spawner through, until all 20 went out.
    std::vector<skein::v1::Task> rest(first.begin() + 5, first.end());
    rest.insert(rest.end(), second.begin(), second.end());
    std::size_t sent = first.size() + second.size();
    while (!rest.empty()) {
      std::vector<skein::v1::TaskResult> results;
      for (const auto& t : rest) {
        results.push_back(success(t));
      }
      ASSERT_TRUE(reply(agent, results));
      const std::size_t expect = std::min(rest.size(), kSpawners - sent);
      rest = take_tasks(agent, expect, 20s);
      ASSERT_EQ(rest.size(), expect) << "parked spawners did not resume";
      sent += rest.size();
    }
    spawned.wait();
    for (std::size_t i = 0; i < kSpawners; ++i) {
      EXPECT_EQ(futures[i].get(), static_cast<int>(i));
    }
  });
}

TEST(ClusterTransport, TheWindowAlsoBoundsArgumentBytesInFlight) {
  FakeAgent agent;
  in_runtime(2, [&] {
    // Room for 100 tasks but only 10,000 bytes of arguments: 4,000-byte
    // tasks go two at a time; a lone task larger than the budget still goes.
    Worker w(agent, ClusterTransportOptions{.window = 100, .window_bytes = 10000});
    ASSERT_TRUE(w.connected().ok());
    const std::string big = encode(std::make_tuple(std::string(4000 - 8, 'b')));
    ASSERT_EQ(big.size(), 4000u);
    WaitGroup spawned;
    spawned.add(5);
    std::vector<Future<std::size_t>> futures(5);
    for (int i = 0; i < 5; ++i) {
      go([&, i] {
        futures[i] = w.launch<std::size_t>("measure", big);
        spawned.done();
      });
    }
    for (int round = 0; round < 2; ++round) {
      std::vector<skein::v1::Task> t = take_tasks(agent, 2);
      ASSERT_EQ(t.size(), 2u);
      EXPECT_EQ(take_tasks(agent, 1, 150ms).size(), 0u) << "over the byte budget";
      ASSERT_TRUE(reply(agent, {success(t[0]), success(t[1])}));
    }
    std::vector<skein::v1::Task> last = take_tasks(agent, 1);
    ASSERT_EQ(last.size(), 1u);
    ASSERT_TRUE(reply(agent, {success(last[0])}));
    spawned.wait();
    for (auto& f : futures) {
      EXPECT_EQ(f.get(), 4000u - 8);
    }
    // Nothing in flight: one task over the whole budget is not stuck forever.
    const std::string huge = encode(std::make_tuple(std::string(20000, 'h')));
    Future<std::size_t> alone = w.launch<std::size_t>("measure", huge);
    std::vector<skein::v1::Task> t = take_tasks(agent, 1);
    ASSERT_EQ(t.size(), 1u);
    ASSERT_TRUE(reply(agent, {success(t[0])}));
    EXPECT_EQ(alone.get(), 20000u);
  });
}

TEST(ClusterTransport, ALostAgentFailsEveryPendingTaskAndLaterSpawns) {
  FakeAgent agent;
  in_runtime(2, [&] {
    Worker w(agent, ClusterTransportOptions{.window = 4});
    ASSERT_TRUE(w.connected().ok());
    WaitGroup spawned;
    spawned.add(6);
    std::vector<Future<int>> futures(6, Future<int>());
    for (int i = 0; i < 6; ++i) {
      go([&, i] {
        futures[i] = w.launch("add", encode(std::make_tuple(i, i)));
        spawned.done();
      });
    }
    ASSERT_EQ(take_tasks(agent, 4).size(), 4u);  // two spawners park on the window
    const auto t0 = std::chrono::steady_clock::now();
    agent.hang_up();
    spawned.wait();  // the parked ones wake
    for (auto& f : futures) {
      EXPECT_EQ(error_of(f), TaskError::kNodeLost);
      EXPECT_NE(message_of(f).find("lost the connection to node agent of test"), std::string::npos)
          << message_of(f);
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    Future<int> late = w.launch("add", encode(std::make_tuple(1, 1)));
    ASSERT_TRUE(late.ready());
    EXPECT_EQ(error_of(late), TaskError::kNodeLost);
    EXPECT_TRUE(w.transport().broken());
  });
}

TEST(ClusterTransport, ArgumentsOverThreeMiBAreRefusedAtSpawn) {
  FakeAgent agent;
  in_runtime(2, [&] {
    Worker w(agent);
    ASSERT_TRUE(w.connected().ok());
    // The archive of a string is its 8-byte length and its bytes.
    Future<std::size_t> big = w.launch<std::size_t>(
        "measure", encode(std::make_tuple(std::string(kMaxTaskArgsBytes, 'x'))));
    ASSERT_TRUE(big.ready());
    EXPECT_EQ(error_of(big), TaskError::kBadPayload);
    EXPECT_NE(message_of(big).find("exceed the limit of one task"), std::string::npos);
    const std::string at_limit = encode(std::make_tuple(std::string(kMaxTaskArgsBytes - 8, 'y')));
    ASSERT_EQ(at_limit.size(), kMaxTaskArgsBytes);
    Future<std::size_t> ok = w.launch<std::size_t>("measure", at_limit);
    std::vector<skein::v1::Task> t = take_tasks(agent, 1);
    ASSERT_EQ(t.size(), 1u);  // only the one at the limit left the process
    EXPECT_EQ(t[0].args().size(), kMaxTaskArgsBytes);
    ASSERT_TRUE(reply(agent, {success(t[0])}));
    EXPECT_EQ(ok.get(), kMaxTaskArgsBytes - 8);
    EXPECT_EQ(w.transport().counters().refused, 1u);
  });
}

TEST(ClusterTransport, LocalFirstRunsHereWhileSlotsAreFreeThenSpills) {
  FakeAgent agent;
  in_runtime(2, [&] {
    Worker w(agent, ClusterTransportOptions{.local_slots = 2});
    ASSERT_TRUE(w.connected().ok());
    const SpawnOptions lf{.placement = Placement::local_first()};
    std::vector<std::shared_ptr<detail::FutureState>> states;
    for (int i = 0; i < 5; ++i) {
      states.push_back(w.launch_state("nap", encode(std::make_tuple(300)), lf));
    }
    std::vector<skein::v1::Task> spilled = take_tasks(agent, 3);
    ASSERT_EQ(spilled.size(), 3u);
    for (const auto& t : spilled) {
      EXPECT_EQ(t.placement(), skein::v1::PLACEMENT_KIND_LOCAL_FIRST);
    }
    std::vector<skein::v1::TaskResult> results;
    for (const auto& t : spilled) {
      results.push_back(success(t, "n-other"));
    }
    ASSERT_TRUE(reply(agent, results));
    std::map<std::string, int> where;
    for (auto& s : states) {
      EXPECT_EQ(Future<int>(s).get(), 300);
      ++where[s->outcome().node];
    }
    EXPECT_EQ(where["n-test"], 2);  // ran in this process
    EXPECT_EQ(where["n-other"], 3);
    EXPECT_EQ(w.transport().counters().ran_locally, 2u);
    // Slots are free again: the next one runs here.
    auto again = w.launch_state("nap", encode(std::make_tuple(1)), lf);
    EXPECT_EQ(Future<int>(again).get(), 1);
    EXPECT_EQ(again->outcome().node, "n-test");
  });
}

TEST(ClusterTransport, SpawnsFromManyGoroutinesShareFramesWhenTheSocketIsBusy) {
  FakeAgent agent;
  in_runtime(2, [&] {
    Worker w(agent);
    ASSERT_TRUE(w.connected().ok());
    agent.pause_reading(true);  // the socket buffer fills; writers wait
    constexpr int kGoroutines = 8;
    constexpr int kEach = 1000;
    DistWaitGroup wg;
    WaitGroup spawned;
    spawned.add(kGoroutines);
    const std::string payload(200, 'z');
    for (int g = 0; g < kGoroutines; ++g) {
      go([&] {
        for (int i = 0; i < kEach; ++i) {
          w.launch(wg, "measure", encode(std::make_tuple(payload)));
        }
        spawned.done();
      });
    }
    sleep_for(100ms);
    agent.pause_reading(false);
    std::vector<int> frames;
    std::vector<skein::v1::Task> tasks = take_tasks(agent, kGoroutines * kEach, 10s, &frames);
    spawned.wait();
    ASSERT_EQ(tasks.size(), static_cast<std::size_t>(kGoroutines * kEach));
    std::set<std::uint64_t> ids;
    for (const auto& t : tasks) {
      ids.insert(t.task_id());
    }
    EXPECT_EQ(ids.size(), tasks.size());
    const int biggest = *std::max_element(frames.begin(), frames.end());
    EXPECT_LE(biggest, static_cast<int>(kMaxBatchEntries));
    EXPECT_GT(biggest, 1);
    EXPECT_LT(frames.size(), tasks.size() / 4) << "tasks did not share frames";
    for (std::size_t i = 0; i < tasks.size(); i += 500) {
      std::vector<skein::v1::TaskResult> results;
      for (std::size_t j = i; j < std::min(tasks.size(), i + 500); ++j) {
        results.push_back(success(tasks[j]));
      }
      ASSERT_TRUE(reply(agent, results));
    }
    wg.wait();
  });
}

TEST(ClusterTransport, WaitGroupDeltasGoOutPerOwnerAndComeInToTheGroup) {
  FakeAgent agent;
  in_runtime(2, [&] {
    Worker w(agent);
    ASSERT_TRUE(w.connected().ok());
    const detail::GroupOwner me = w.transport().owner_identity();
    EXPECT_EQ(me.node_id, "n-test");  // HelloAck
    EXPECT_EQ(me.worker_id, 7u);

    // Out: add/done on groups of two other owners, from a goroutine.
    const detail::GroupOwner a{"n1", 3};
    const detail::GroupOwner b{"n2", 9};
    w.transport().send_wg_delta(a, 11, 2);
    w.transport().send_wg_delta(b, 12, -1);
    w.transport().send_wg_delta(a, 11, -1);
    std::map<std::pair<std::string, std::uint64_t>, std::vector<std::int64_t>> got;
    int n = 0;
    while (n < 3) {
      auto m = blocking([&] { return agent.next(5s); });
      ASSERT_TRUE(m.has_value()) << "deltas missing; got " << n;
      ASSERT_TRUE(m->has_wg_deltas()) << m->ShortDebugString();
      const auto& batch = m->wg_deltas();
      for (const auto& d : batch.deltas()) {
        got[{batch.owner().node_id(), batch.owner().worker_id()}].push_back(
            static_cast<std::int64_t>(d.group_id()) * 100 + d.delta());
        ++n;
      }
    }
    EXPECT_EQ(got[std::make_pair(std::string("n1"), std::uint64_t{3})],
              (std::vector<std::int64_t>{1102, 1099}));  // group 11: +2 then -1, in order
    EXPECT_EQ(got[std::make_pair(std::string("n2"), std::uint64_t{9})],
              (std::vector<std::int64_t>{1199}));  // group 12: -1

    // In: another process's done() for a group this one owns.
    DistWaitGroup wg;
    wg.add(2);
    const std::uint64_t id = wg.state()->registry_id();
    skein::v1::AgentToWorker in;
    auto* batch = in.mutable_wg_deltas();
    batch->mutable_owner()->set_node_id("n-test");
    batch->mutable_owner()->set_worker_id(7);
    for (int i = 0; i < 2; ++i) {
      auto* d = batch->add_deltas();
      d->set_group_id(id);
      d->set_delta(-1);
    }
    ASSERT_TRUE(agent.send(in));
    EXPECT_TRUE(wg.wait_for(5s));
    EXPECT_EQ(wg.count(), 0);
    EXPECT_EQ(w.transport().counters().deltas_received, 2u);

    // After the link is lost, deltas are dropped (at most once), not queued.
    agent.hang_up();
    for (int i = 0; i < 200 && !w.transport().broken(); ++i) {
      sleep_for(5ms);
    }
    ASSERT_TRUE(w.transport().broken());
    w.transport().send_wg_delta(a, 11, -1);
    EXPECT_EQ(w.transport().counters().deltas_dropped, 1u);
  });
}

TEST(TaskRunner, RunsPlacedTasksAndReturnsOneResultBatchPerOwner) {
  FakeAgent agent;
  in_runtime(2, [&] {
    Worker w(agent);
    ASSERT_TRUE(w.connected().ok());
    const auto task = [](std::uint64_t id, std::string fn, std::string args, bool wants) {
      skein::v1::Task t;
      t.set_task_id(id);
      t.set_attempt(2);
      t.set_function(std::move(fn));
      t.set_args(std::move(args));
      t.set_wants_result(wants);
      return t;
    };
    skein::v1::AgentToWorker a;
    a.mutable_tasks()->set_job_id(5);
    a.mutable_tasks()->mutable_owner()->set_node_id("n1");
    a.mutable_tasks()->mutable_owner()->set_worker_id(3);
    *a.mutable_tasks()->add_tasks() = task(1, "add", encode(std::make_tuple(2, 3)), true);
    *a.mutable_tasks()->add_tasks() = task(2, "add", encode(std::make_tuple(4, 4)), false);
    *a.mutable_tasks()->add_tasks() = task(3, "nope", "", true);
    skein::v1::AgentToWorker b;
    b.mutable_tasks()->set_job_id(5);
    b.mutable_tasks()->mutable_owner()->set_node_id("n2");
    b.mutable_tasks()->mutable_owner()->set_worker_id(9);
    *b.mutable_tasks()->add_tasks() = task(1, "add", encode(std::make_tuple(10, 10)), true);
    ASSERT_TRUE(agent.send(a));
    ASSERT_TRUE(agent.send(b));

    std::map<std::pair<std::string, std::uint64_t>, std::map<std::uint64_t, skein::v1::TaskResult>>
        by_owner;
    int received = 0;
    while (received < 4) {
      auto m = blocking([&] { return agent.next(5s); });
      ASSERT_TRUE(m.has_value()) << "results missing; got " << received;
      ASSERT_TRUE(m->has_results()) << m->ShortDebugString();
      EXPECT_EQ(m->results().job_id(), 5u);
      for (const auto& r : m->results().results()) {
        by_owner[{m->results().owner().node_id(), m->results().owner().worker_id()}][r.task_id()] =
            r;
        ++received;
      }
    }
    ASSERT_EQ(by_owner.size(), 2u);
    auto& n1 = by_owner[{"n1", 3}];
    ASSERT_EQ(n1.size(), 3u);
    EXPECT_EQ(n1[1].error(), 0u);
    EXPECT_EQ(n1[1].attempt(), 2u);
    EXPECT_EQ(detail::decode<int>(n1[1].result()), 5);
    EXPECT_EQ(n1[1].node(), "n-test");
    EXPECT_EQ(n1[2].error(), 0u);
    EXPECT_TRUE(n1[2].result().empty()) << "wants_result=false carries no value";
    EXPECT_EQ(n1[3].error(), static_cast<std::uint32_t>(TaskError::kUnknownFunction));
    EXPECT_NE(n1[3].message().find("nope"), std::string::npos);
    auto& n2 = by_owner[{"n2", 9}];
    ASSERT_EQ(n2.size(), 1u);
    EXPECT_EQ(detail::decode<int>(n2[1].result()), 20);
    EXPECT_EQ(w.runner().counters().finished, 4u);
  });
}

}  // namespace
}  // namespace skein::node
