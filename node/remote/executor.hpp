// Running one task attempt in this process: registry lookup, decode, call,
// encode. Shared by the local transport and the cluster task worker, so a
// task takes the same path wherever it runs.
#pragma once

#include <string_view>

#include "skein/detail/task.hpp"

namespace skein::detail {

// Runs spec's function on its arguments in the calling goroutine. Never
// throws: an unknown name, bad arguments or an exception thrown by the
// function come back as the outcome's error. outcome.node is set to node.
TaskOutcome execute_task(const TaskSpec& spec, std::string_view node);

}  // namespace skein::detail
