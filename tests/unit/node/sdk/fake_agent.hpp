// FakeAgent: the agent's end of the worker socket, in the test process, for
// testing the SDK's side of task dispatch without a node agent.
//
// It listens on a Unix socket in a fresh temp directory, accepts one worker,
// answers its WorkerHello with HelloAck{stats 0, worker_id, node_id}, then
// queues every frame the worker sends (stats samples are dropped) for the
// test to take with next(). send() writes AgentToWorker frames; hang_up()
// closes the connection as a dying agent would. It speaks the real framing
// (wire/frame.hpp) and the real messages; only the agent's logic is missing.
#pragma once

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>

#include "skein/detail/serialize.hpp"
#include "skein/v1/worker.pb.h"
#include "wire/frame.hpp"
#include "wire/unique_fd.hpp"

namespace skein::node::testing {

class FakeAgent {
 public:
  explicit FakeAgent(std::string node_id = "n-test", std::uint64_t worker_id = 7)
      : node_id_(std::move(node_id)), worker_id_(worker_id) {
    char tmpl[] = "/tmp/skein-fake-agent-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/agent.sock";
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listener_.get(), 4) != 0) {
      std::abort();
    }
    thread_ = std::thread([this] { serve(); });
  }

  ~FakeAgent() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      cv_.notify_all();
    }
    hang_up();
    thread_.join();
    std::filesystem::remove_all(dir_);
  }

  const std::string& path() const { return path_; }

  // The worker's hello, once it arrived (waits up to `timeout`).
  std::optional<skein::v1::WorkerHello> hello(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [this] { return hello_.has_value(); });
    return hello_;
  }

  // The next non-stats frame from the worker, or nullopt after `timeout` or at
  // the end of the connection.
  std::optional<skein::v1::WorkerToAgent> next(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [this] { return !frames_.empty() || eof_; });
    if (frames_.empty()) {
      return std::nullopt;
    }
    skein::v1::WorkerToAgent m = std::move(frames_.front());
    frames_.pop_front();
    return m;
  }

  bool send(const skein::v1::AgentToWorker& m) {
    std::lock_guard<std::mutex> lock(write_mu_);
    return conn_fd_ >= 0 && write_frame(conn_fd_, m.SerializeAsString()).ok();
  }

  // Closes the worker's connection (the worker sees the end of the stream).
  void hang_up() {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (conn_fd_ >= 0) {
      ::shutdown(conn_fd_, SHUT_RDWR);
    }
  }

  // While paused the agent reads nothing, so the worker's socket buffer fills.
  void pause_reading(bool paused) {
    std::lock_guard<std::mutex> lock(mu_);
    paused_ = paused;
    cv_.notify_all();
  }

  // The first n connections get their hello read and are closed unanswered,
  // as by an agent that has not recorded the worker's pid yet. Before start.
  void refuse_first_hellos(int n) { refuse_hellos_ = n; }
  int refused() const { return refused_; }

  // While set, the agent answers every TaskBatch itself at once with one
  // ResultBatch (success; add(a, b) gets its sum, other functions no value)
  // instead of queueing it: an infinitely fast cluster, for benchmarks.
  void set_auto_reply(bool on) { auto_reply_ = on; }

  bool eof() {
    std::lock_guard<std::mutex> lock(mu_);
    return eof_;
  }

 private:
  void serve() {
    UniqueFd conn;
    for (;;) {
      pollfd p{listener_.get(), POLLIN, 0};
      while (!stop_ && ::poll(&p, 1, 20) <= 0) {
      }
      if (stop_) {
        return;
      }
      conn.reset(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (refuse_hellos_ == 0) {
        break;
      }
      // As an agent that does not know the worker yet: read the hello, close.
      [[maybe_unused]] auto hello = read_frame(conn.get());
      conn.reset();
      --refuse_hellos_;
      ++refused_;
    }
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      conn_fd_ = conn.get();
    }
    auto first = read_frame(conn.get());
    skein::v1::WorkerToAgent hello;
    if (first.ok() && hello.ParseFromString(*first) && hello.has_hello()) {
      skein::v1::AgentToWorker ack;
      ack.mutable_hello_ack()->set_worker_id(worker_id_);
      ack.mutable_hello_ack()->set_node_id(node_id_);
      send(ack);
      std::lock_guard<std::mutex> lock(mu_);
      hello_ = hello.hello();
      cv_.notify_all();
    }
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return !paused_ || stop_; });
      }
      auto frame = read_frame(conn.get());
      if (!frame.ok()) {
        break;
      }
      skein::v1::WorkerToAgent m;
      if (!m.ParseFromString(*frame) || m.has_stats()) {
        continue;
      }
      if (auto_reply_ && m.has_tasks()) {
        answer(m.tasks());
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      frames_.push_back(std::move(m));
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(write_mu_);
    conn_fd_ = -1;
    std::lock_guard<std::mutex> lock2(mu_);
    eof_ = true;
    cv_.notify_all();
  }

  void answer(const skein::v1::TaskBatch& batch) {
    skein::v1::AgentToWorker out;
    auto* rb = out.mutable_results();
    rb->set_job_id(5);
    for (const auto& t : batch.tasks()) {
      auto* r = rb->add_results();
      r->set_task_id(t.task_id());
      r->set_attempt(t.attempt());
      if (t.wants_result() && t.function() == "add") {
        auto [a, b] = detail::decode<std::tuple<int, int>>(t.args());
        r->set_result(detail::encode(a + b));
      }
      r->set_node("n-auto");
    }
    send(out);
  }

  const std::string node_id_;
  const std::uint64_t worker_id_;
  std::string dir_;
  std::string path_;
  UniqueFd listener_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> auto_reply_{false};
  std::atomic<int> refuse_hellos_{0};
  std::atomic<int> refused_{0};
  std::mutex write_mu_;
  int conn_fd_ = -1;  // guarded by write_mu_; owned by serve()
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<skein::v1::WorkerHello> hello_;  // guarded by mu_
  std::deque<skein::v1::WorkerToAgent> frames_;  // guarded by mu_
  bool eof_ = false;                             // guarded by mu_
  bool paused_ = false;                          // guarded by mu_
};

}  // namespace skein::node::testing
