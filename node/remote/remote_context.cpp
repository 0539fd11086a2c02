#include "remote/remote_context.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "remote/local_transport.hpp"
#include "skein/spawn.hpp"

namespace skein::detail {
namespace {

struct RemoteContext {
  std::unique_ptr<TaskTransport> transport;
  std::unique_ptr<OwnerTable> table;
};

std::mutex g_mu;
std::atomic<RemoteContext*> g_context{nullptr};  // written once under g_mu

RemoteContext* make_context(std::unique_ptr<TaskTransport> transport) {
  auto* c = new RemoteContext;
  c->transport = std::move(transport);
  c->table = std::make_unique<OwnerTable>(*c->transport);
  return c;
}

RemoteContext& context() {
  RemoteContext* c = g_context.load(std::memory_order_acquire);
  if (c != nullptr) [[likely]] {
    return *c;
  }
  std::lock_guard<std::mutex> lock(g_mu);
  c = g_context.load(std::memory_order_relaxed);
  if (c == nullptr) {
    c = make_context(std::make_unique<LocalTransport>());
    g_context.store(c, std::memory_order_release);
  }
  return *c;
}

}  // namespace

void install_transport(std::unique_ptr<TaskTransport> transport) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_context.load(std::memory_order_relaxed) != nullptr) {
    std::fprintf(stderr,
                 "skein: fatal: install_transport: a transport is already in place (installed "
                 "before, or the local one made by the first spawn); tasks would be split "
                 "across transports\n");
    std::fflush(stderr);
    std::_Exit(2);
  }
  g_context.store(make_context(std::move(transport)), std::memory_order_release);
}

OwnerTable& process_owner_table() { return *context().table; }

TaskTransport& process_transport() { return *context().transport; }

std::uint64_t next_task_id() { return context().table->next_task_id(); }

void launch(TaskSpec spec, std::shared_ptr<FutureState> future,
            std::shared_ptr<WaitGroupState> group) {
  context().table->launch(std::move(spec), std::move(future), std::move(group));
}

void throw_unregistered(std::string_view signature) {
  throw RemoteError(TaskError::kUnknownFunction, 0, std::string(signature), "", 0,
                    task_error_name(TaskError::kUnknownFunction),
                    "spawn of a function without SKEIN_REMOTE");
}

}  // namespace skein::detail
