#include "remote/executor.hpp"

#include <string>

#include "skein/remote.hpp"

namespace skein::detail {

TaskOutcome execute_task(const TaskSpec& spec, std::string_view node) {
  TaskOutcome out;
  const RemoteEntry* entry = find_remote(spec.function);
  if (entry == nullptr) {
    out.error = TaskError::kUnknownFunction;
    out.type_name = task_error_name(TaskError::kUnknownFunction);
    out.message =
        "no remote function \"" + spec.function + "\" is registered in this binary (SKEIN_REMOTE)";
  } else {
    entry->invoke(spec.args, out);
  }
  if (!spec.wants_result) {
    out.result.clear();
  }
  out.node = std::string(node);
  return out;
}

}  // namespace skein::detail
