#include "skein/remote_error.hpp"

#include <string>

#include "skein/spawn_options.hpp"

namespace skein {

const char* task_error_name(TaskError e) {
  switch (e) {
    case TaskError::kNone:
      return "ok";
    case TaskError::kException:
      return "exception";
    case TaskError::kDeadlineExceeded:
      return "deadline exceeded";
    case TaskError::kUnknownFunction:
      return "unknown remote function";
    case TaskError::kBadPayload:
      return "bad payload";
    case TaskError::kWorkerLost:
      return "worker lost";
    case TaskError::kNodeLost:
      return "node lost";
    case TaskError::kPoisoned:
      return "poison task";
    case TaskError::kUnplaceable:
      return "unplaceable";
    case TaskError::kCanceled:
      return "canceled";
  }
  return "unknown error";
}

namespace {

std::string describe(TaskError kind, std::uint64_t task_id, const std::string& function,
                     const std::string& node, std::uint32_t attempt, const std::string& type_name,
                     const std::string& message) {
  std::string s = "remote task " + std::to_string(task_id);
  if (!function.empty()) {
    s += " (" + function + ")";
  }
  if (!node.empty()) {
    s += " on node " + node;
  }
  if (attempt != 0) {
    s += ", attempt " + std::to_string(attempt);
  }
  s += ": ";
  s += kind == TaskError::kException ? type_name : std::string(task_error_name(kind));
  if (!message.empty()) {
    s += ": " + message;
  }
  return s;
}

}  // namespace

RemoteError::RemoteError(TaskError kind, std::uint64_t task_id, std::string function,
                         std::string node, std::uint32_t attempt, std::string type_name,
                         std::string message)
    : std::runtime_error(describe(kind, task_id, function, node, attempt, type_name, message)),
      kind_(kind),
      task_id_(task_id),
      function_(std::move(function)),
      node_(std::move(node)),
      attempt_(attempt),
      type_name_(std::move(type_name)),
      message_(std::move(message)) {}

std::string Placement::to_string() const {
  switch (kind_) {
    case Kind::kLeastLoaded:
      return "least_loaded";
    case Kind::kLocalFirst:
      return "local_first";
    case Kind::kSpread:
      return "spread";
    case Kind::kPinned:
      return "pinned(" + node_ + ")";
  }
  return "unknown";
}

}  // namespace skein
