// Test harness: an owner process in miniature (AgentLink + ClusterTransport +
// OwnerTable + TaskRunner, wired as node/worker/run.cpp wires them) connected
// to a FakeAgent, and a helper that runs a test body as a main goroutine.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "fake_agent.hpp"
#include "remote/owner_table.hpp"
#include "skein/blocking.hpp"
#include "skein/dist_waitgroup.hpp"
#include "skein/future.hpp"
#include "skein/runtime.hpp"
#include "worker/agent_link.hpp"
#include "worker/cluster_transport.hpp"
#include "worker/task_runner.hpp"

namespace skein::node::testing {

using namespace std::chrono_literals;

// Runs body as the main goroutine of a fresh runtime.
inline void in_runtime(int procs, const std::function<void()>& body) {
  Config c;
  c.procs = procs;
  c.detect_deadlock = false;  // the fake agent's thread wakes goroutines
  Runtime rt(c);
  rt.run([&] { body(); });
}

// An owner process in miniature: link + transport + owner table + runner,
// wired the way run.cpp wires them.
class Worker {
 public:
  explicit Worker(FakeAgent& agent, ClusterTransportOptions options = {}) {
    cluster::WorkerContext ctx;
    ctx.job_id = 5;
    ctx.agent_socket = agent.path();
    link_ = std::make_unique<AgentLink>(ctx);
    connected_ = link_->connect();
    FrameSender send = [l = link_.get()](std::string_view p) { return l->send(p); };
    options.agent_description = "node agent of test";
    options.worker_id = link_->worker_id();
    transport_ = std::make_unique<ClusterTransport>(send, link_->node_id(), options);
    table_ = std::make_unique<detail::OwnerTable>(*transport_);
    transport_->attach(table_.get());
    runner_ = std::make_unique<TaskRunner>(send, link_->node_id());
    if (connected_.ok()) {
      link_->start_reader(
          [this](skein::v1::AgentToWorker& m) {
            if (m.has_results()) {
              transport_->on_results(*m.mutable_results());
            } else if (m.has_tasks()) {
              runner_->on_tasks(*m.mutable_tasks());
            } else if (m.has_wg_deltas()) {
              transport_->on_wg_deltas(m.wg_deltas());
            }
          },
          [this](const absl::Status& s) { transport_->on_link_lost(std::string(s.message())); });
    }
  }
  // Nothing may run in the parts when they go: the reader stops first, then
  // the writers finish, then the parts go in reverse order of use.
  ~Worker() {
    link_->stop();
    blocking([this] {
      runner_->wait_idle();
      transport_->wait_idle();
    });
    runner_.reset();
    table_.reset();
    transport_.reset();
  }

  const absl::Status& connected() const { return connected_; }
  detail::OwnerTable& table() { return *table_; }
  ClusterTransport& transport() { return *transport_; }
  TaskRunner& runner() { return *runner_; }

  // Launches one task; returns its future.
  template <class R = int>
  Future<R> launch(std::string function, std::string args, SpawnOptions options = {}) {
    return Future<R>(launch_state(std::move(function), std::move(args), options));
  }
  std::shared_ptr<detail::FutureState> launch_state(std::string function, std::string args,
                                                    SpawnOptions options = {}) {
    detail::TaskSpec spec = make_spec(std::move(function), std::move(args), options);
    auto state = std::make_shared<detail::FutureState>(spec.task_id, spec.function);
    table_->launch(std::move(spec), state, nullptr);
    return state;
  }
  void launch(DistWaitGroup& wg, std::string function, std::string args, SpawnOptions o = {}) {
    detail::TaskSpec spec = make_spec(std::move(function), std::move(args), o);
    spec.wants_result = false;
    table_->launch(std::move(spec), nullptr, wg.state());
  }

 private:
  detail::TaskSpec make_spec(std::string function, std::string args, const SpawnOptions& o) {
    detail::TaskSpec spec;
    spec.task_id = table_->next_task_id();
    spec.function = std::move(function);
    spec.args = std::move(args);
    spec.options = o;
    if (o.deadline > 0s) {
      spec.deadline = std::chrono::steady_clock::now() + o.deadline;
    }
    return spec;
  }

  absl::Status connected_;
  std::unique_ptr<AgentLink> link_;
  std::unique_ptr<ClusterTransport> transport_;
  std::unique_ptr<detail::OwnerTable> table_;
  std::unique_ptr<TaskRunner> runner_;
};

}  // namespace skein::node::testing
