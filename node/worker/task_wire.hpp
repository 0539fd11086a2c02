// The wire mirror of the SDK's task records (proto/skein/v1/task.proto):
// TaskSpec <-> skein.v1.Task and TaskOutcome <-> skein.v1.TaskResult, field
// for field, plus the batch limits every sender on the worker socket keeps
// (docs/wire.md, "Task dispatch").
//
// Times: a TaskSpec's deadline is absolute on this process's steady clock;
// on the wire it travels as the milliseconds left (steady clocks of two
// machines cannot be compared), and an executor rebuilds an absolute one on
// its own clock. 0 means no deadline, so a deadline already passed is sent as
// 1 ms, not 0.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

#include "absl/status/status.h"
#include "skein/detail/task.hpp"
#include "skein/v1/task.pb.h"

namespace skein::node {

// A TaskBatch / ResultBatch holds at most this many entries...
inline constexpr std::size_t kMaxBatchEntries = 1024;
// ...and is closed once its args / result bytes reach this much.
inline constexpr std::size_t kBatchPayloadBytes = std::size_t{1} << 20;
// A spawn with larger arguments is refused (gRPC's 4 MiB message limit).
inline constexpr std::size_t kMaxTaskArgsBytes = std::size_t{3} << 20;

// How task and result senders reach the agent socket: writes one frame
// holding a serialized WorkerToAgent (AgentLink::send in a worker).
using FrameSender = std::function<absl::Status(std::string_view payload)>;

// Moves the function name and arguments out of spec (they can be megabytes).
void to_proto(detail::TaskSpec&& spec, skein::v1::Task* out);
// Moves the function name and arguments out of task.
detail::TaskSpec from_proto(skein::v1::Task&& task);

void to_proto(std::uint64_t task_id, std::uint32_t attempt, detail::TaskOutcome&& outcome,
              skein::v1::TaskResult* out);
// A result off the wire. An error number this SDK does not know becomes
// kBadPayload with the number in the message, so it still settles the task.
detail::TaskCompletion from_proto(skein::v1::TaskResult&& result);

}  // namespace skein::node
