// The TaskTransport seam as the cluster mode will use it: a transport
// installed before the first spawn sees every TaskSpec spawn builds (function
// name, archived arguments, options, deadline, wants_result) and hands results
// back through the sink. This one records each spec and then runs it with the
// local transport, so the tasks really execute.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "remote/local_transport.hpp"
#include "remote/remote_context.hpp"
#include "sched_fixture.hpp"
#include "skein/spawn.hpp"

namespace transport_test {
int add(int a, int b) { return a + b; }
SKEIN_REMOTE(add);
}  // namespace transport_test

namespace skein::detail {
namespace {

using namespace std::chrono_literals;

class RecordingLocalTransport final : public TaskTransport {
 public:
  void submit(TaskSpec spec, CompletionSink& sink) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      specs_.push_back(spec);
    }
    local_.submit(std::move(spec), sink);
  }
  bool can_lose_tasks() const override { return true; }
  std::string_view node_name() const override { return "recording"; }
  std::vector<TaskSpec> specs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return specs_;
  }

 private:
  LocalTransport local_;
  mutable std::mutex mu_;
  std::vector<TaskSpec> specs_;
};

// Installed once, before any spawn in this binary.
RecordingLocalTransport* installed() {
  static RecordingLocalTransport* t = [] {
    auto owned = std::make_unique<RecordingLocalTransport>();
    RecordingLocalTransport* raw = owned.get();
    install_transport(std::move(owned));
    return raw;
  }();
  return t;
}

TEST(RemoteTransportTest, SpawnBuildsTheSpecTheClusterWillCarry) {
  RecordingLocalTransport* transport = installed();
  Runtime rt(Config{.procs = 2});
  rt.run([&] {
    const SpawnOptions options{
        .placement = Placement::pinned("node-3"),
        .resources = Resources{.cpus = 1.5, .memory_bytes = 64 << 20, .labels = {"ssd", "x86"}},
        .max_retries = 5,
        .retry_exceptions = true,
        .deadline = 2s};
    const auto before = std::chrono::steady_clock::now();
    Future<int> f = spawn(options, SKEIN_FN(transport_test::add), 2, 40);
    EXPECT_EQ(f.get(), 42);
    DistWaitGroup wg;
    const std::uint64_t id = spawn(wg, SKEIN_FN(transport_test::add), 1, 1);
    wg.wait();

    std::vector<TaskSpec> specs = transport->specs();
    ASSERT_EQ(specs.size(), 2u);
    const TaskSpec& s = specs[0];
    EXPECT_EQ(s.task_id, f.task_id());
    EXPECT_EQ(s.attempt, 1u);
    // The name is the one SKEIN_REMOTE wrote (inside the namespace), whatever
    // spelling SKEIN_FN used: the handle resolves it through the function.
    EXPECT_EQ(s.function, "add");
    EXPECT_EQ((decode<std::tuple<int, int>>(s.args)), std::make_tuple(2, 40));
    EXPECT_EQ(s.options.placement, Placement::pinned("node-3"));
    EXPECT_EQ(s.options.resources.cpus, 1.5);
    EXPECT_EQ(s.options.resources.memory_bytes, 64u << 20);
    EXPECT_EQ(s.options.resources.labels, (std::vector<std::string>{"ssd", "x86"}));
    EXPECT_EQ(s.options.max_retries, 5);
    EXPECT_TRUE(s.options.retry_exceptions);
    EXPECT_GE(s.deadline, before + 2s);
    EXPECT_LE(s.deadline, std::chrono::steady_clock::now() + 2s);
    EXPECT_TRUE(s.wants_result);

    EXPECT_EQ(specs[1].task_id, id);
    EXPECT_FALSE(specs[1].wants_result);
    EXPECT_EQ(specs[1].deadline, std::chrono::steady_clock::time_point::max());
    EXPECT_EQ(specs[1].options.placement, Placement::least_loaded());

    OwnerTable::Counters c = process_owner_table().counters();
    EXPECT_EQ(c.launched, 2u);
    EXPECT_EQ(c.succeeded, 2u);
    EXPECT_EQ(c.pending, 0u);
  });
}

TEST(RemoteTransportDeathTest, SecondInstallIsFatal) {
  installed();
  EXPECT_EXIT(install_transport(std::make_unique<LocalTransport>()), ::testing::ExitedWithCode(2),
              "install_transport: a transport is already in place");
}

}  // namespace
}  // namespace skein::detail
