#include "remote/wait_group_registry.hpp"

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "remote/remote_context.hpp"

namespace skein::detail {
namespace {

struct Registry {
  std::mutex mu;
  std::uint64_t next_id = 1;
  std::unordered_map<std::uint64_t, std::weak_ptr<WaitGroupState>> groups;
  std::atomic<std::uint64_t> applied{0};
  std::atomic<std::uint64_t> dropped{0};
};

// Never destroyed: groups may be destroyed (and unregister) during exit.
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

}  // namespace

std::uint64_t register_wait_group(const std::weak_ptr<WaitGroupState>& state) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  const std::uint64_t id = r.next_id++;
  r.groups.emplace(id, state);
  return id;
}

void unregister_wait_group(std::uint64_t group_id) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.groups.erase(group_id);
}

std::shared_ptr<WaitGroupState> find_wait_group(std::uint64_t group_id) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.groups.find(group_id);
  return it == r.groups.end() ? nullptr : it->second.lock();
}

void apply_wait_group_delta(std::uint64_t group_id, std::int64_t delta) {
  std::shared_ptr<WaitGroupState> group = find_wait_group(group_id);
  if (!group) {
    registry().dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  registry().applied.fetch_add(1, std::memory_order_relaxed);
  group->add(delta);  // outside the registry's lock: it may wake waiters
}

WaitGroupDeltaCounters wait_group_delta_counters() {
  Registry& r = registry();
  return WaitGroupDeltaCounters{r.applied.load(std::memory_order_relaxed),
                                r.dropped.load(std::memory_order_relaxed)};
}

std::int64_t sent_through(const RemoteGroup& group) {
  return group.sent.load(std::memory_order_relaxed);
}

GroupOwner this_group_owner() { return process_transport().owner_identity(); }

void send_wait_group_delta(RemoteGroup& group, std::int64_t delta) {
  group.sent.fetch_add(delta, std::memory_order_relaxed);
  process_transport().send_wg_delta(group.owner, group.group_id, delta);
}

void TaskTransport::send_wg_delta(const GroupOwner& /*owner*/, std::uint64_t group_id,
                                  std::int64_t delta) {
  apply_wait_group_delta(group_id, delta);
}

void throw_remote_wait(const char* what) {
  throw std::logic_error(std::string("DistWaitGroup: ") + what +
                         " on a handle received from another process: wait() only in the "
                         "process that made the group (add/done work anywhere)");
}

// WaitGroupState's registry half (the rest is dist_waitgroup.cpp).
std::uint64_t WaitGroupState::registry_id() {
  std::lock_guard<std::mutex> lock(mu_);
  if (registry_id_ == 0) {
    registry_id_ = register_wait_group(weak_from_this());
  }
  return registry_id_;
}

WaitGroupState::~WaitGroupState() {
  if (registry_id_ != 0) {
    unregister_wait_group(registry_id_);
  }
}

}  // namespace skein::detail
