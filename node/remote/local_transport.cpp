#include "remote/local_transport.hpp"

#include <utility>

#include "remote/executor.hpp"
#include "skein/go.hpp"

namespace skein::detail {

void LocalTransport::submit(TaskSpec spec, CompletionSink& sink) {
  go([spec = std::move(spec), &sink] {
    TaskCompletion c{spec.task_id, spec.attempt, execute_task(spec, kNodeName)};
    sink.complete(std::move(c));
  });
}

}  // namespace skein::detail
