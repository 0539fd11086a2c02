// Task placement: one decision per spawned task (DESIGN §4, docs/wire.md
// "Task dispatch", role "Coordinator").
//
// Model. The caller (Cluster) builds a view of the nodes a task may go to —
// alive nodes whose agent stream is attached — once per incoming batch, and
// calls place_task() for each task of the batch in order, bumping the chosen
// node's `in_flight` before the next call, so one batch spreads over the
// cluster instead of piling onto whichever node looked idlest at its start.
//
// A node *fits* a task when it has at least the task's cpus, at least its
// memory, and every label it asks for ("k=v": the node's label k equals v;
// "k": the node has label k). Among fitting nodes:
//   least_loaded  min (in_flight + reported runnable goroutines) / cpus; ties
//                 go to the owner's node (its results travel least), then to
//                 the first node of the view.
//   local_first   the owner's node while its load per cpu is < 1, else
//                 least_loaded. (The owner worker already ran what its own Ps
//                 could take; what reaches us is the spill.)
//   spread        round-robin over the fitting nodes with a caller-kept cursor.
//   pinned        exactly pinned_node, if it is in the view and fits.
// No fitting node -> FAILED_PRECONDITION whose message states the requirement
// and, briefly, why each node was refused; Cluster turns it into kUnplaceable.
//
// Pure: no clock, no lock, no I/O; the only state is the spread cursor the
// caller passes in. The happy path allocates nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "skein/v1/common.pb.h"
#include "skein/v1/task.pb.h"

namespace skein::coordinator {

struct PlacerNode {
  std::string_view id;                       // node id; outlives the call
  const v1::Resources* resources = nullptr;  // as registered; never null
  int64_t runnable = 0;                      // NodeLoad.runnable_goroutines of the last heartbeat
  int64_t in_flight = 0;  // tasks placed there without a result yet (caller-maintained)
};

// True if `node` meets `req`. When it does not and `why` is non-null, appends
// a short reason ("2 cpus < 4").
bool node_fits(const PlacerNode& node, const v1::TaskResources& req, std::string* why = nullptr);

// The index in `nodes` where `task` should run. `owner_node` is the id of the
// node the spawning worker lives on; `spread_cursor` is advanced by spread
// placements (keep one per job so each job's tasks rotate on their own).
absl::StatusOr<size_t> place_task(std::span<const PlacerNode> nodes, const v1::Task& task,
                                  std::string_view owner_node, uint32_t* spread_cursor);

}  // namespace skein::coordinator
