// The process's DistWaitGroup registry: group id -> the live group, for the
// groups whose handles were serialized (passed to tasks).
//
// A handle decoded in this process with this process's identity resolves
// through it to the very group (skein/dist_waitgroup.hpp); deltas that other
// processes send for our groups (docs/wire.md "Wait groups") are applied
// through it. The registry holds weak references: it never keeps a group
// alive, and a group unregisters itself when it is destroyed.
//
// Invariants (under the registry's mutex): ids are unique per process and
// never reused (a counter from 1); an entry exists from the group's first
// serialization until its destructor; dropped counts deltas whose group was
// not (or no longer) registered.
#pragma once

#include <cstdint>
#include <memory>

#include "skein/dist_waitgroup.hpp"

namespace skein::detail {

// Registers state (its registry_id() calls this once). Returns the new id.
std::uint64_t register_wait_group(const std::weak_ptr<WaitGroupState>& state);
void unregister_wait_group(std::uint64_t group_id);

// Applies add(delta) to the group, or drops and counts the delta if the
// group does not exist here. Any thread; never parks. A delta that drives
// the count negative is fatal, as the same add() would be.
void apply_wait_group_delta(std::uint64_t group_id, std::int64_t delta);

struct WaitGroupDeltaCounters {
  std::uint64_t applied = 0;  // deltas applied to a live group
  std::uint64_t dropped = 0;  // deltas for a group that does not exist here
};
WaitGroupDeltaCounters wait_group_delta_counters();

}  // namespace skein::detail
