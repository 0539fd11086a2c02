// RemoteError: how a failed remote task reaches the goroutine that waits for
// it (Future::get, when_all, DistWaitGroup::wait).
//
// A remote task fails either because its function threw (TaskError::kException:
// type_name() and message() are the exception's) or because the system could
// not run it to the end: deadline expired, worker or node lost, the task was
// quarantined as poison, no node could ever place it, and so on. Either way the
// error names the task id, the function, the node it ran on ("local" when the
// binary runs outside a cluster) and the attempt that failed.
//
//   try {
//     long v = skein::spawn(SKEIN_FN(fib), -1).get();
//   } catch (const skein::RemoteError& e) {
//     std::printf("%s\n", e.what());   // "remote task 7 (fib) on node local, attempt 1:
//   }                                  //  std::invalid_argument: n < 0"
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace skein {

// Why a task did not produce a value. Stable numbers: they travel on the wire.
enum class TaskError : std::uint8_t {
  kNone = 0,              // it did: success
  kException = 1,         // the function threw; not retried unless retry_exceptions
  kDeadlineExceeded = 2,  // SpawnOptions::deadline passed before a result arrived
  kUnknownFunction = 3,   // the executing binary has no SKEIN_REMOTE of that name
  kBadPayload = 4,        // arguments or result failed to deserialize
  kWorkerLost = 5,        // the worker process running it died (system, retriable)
  kNodeLost = 6,          // its node was declared dead (system, retriable)
  kPoisoned = 7,          // in flight during too many worker deaths (R4)
  kUnplaceable = 8,       // no node can ever satisfy its placement/resources
  kCanceled = 9,          // the job or the owner ended first
};

// "exception", "deadline exceeded", ... for messages.
const char* task_error_name(TaskError e);

// True for failures of the system rather than the task (R1: retried up to
// max_retries without retry_exceptions).
constexpr bool is_system_failure(TaskError e) {
  return e == TaskError::kWorkerLost || e == TaskError::kNodeLost;
}

class RemoteError : public std::runtime_error {
 public:
  RemoteError(TaskError kind, std::uint64_t task_id, std::string function, std::string node,
              std::uint32_t attempt, std::string type_name, std::string message);

  TaskError kind() const noexcept { return kind_; }
  std::uint64_t task_id() const noexcept { return task_id_; }
  // The SKEIN_REMOTE name of the function the task ran.
  const std::string& function() const noexcept { return function_; }
  // Node that reported the failure; "local" outside a cluster, "" if none ran it.
  const std::string& node() const noexcept { return node_; }
  std::uint32_t attempt() const noexcept { return attempt_; }
  // Demangled type of the thrown exception (kException), else the error name.
  const std::string& type_name() const noexcept { return type_name_; }
  // The exception's what(), or a description of the system failure.
  const std::string& message() const noexcept { return message_; }

 private:
  TaskError kind_;
  std::uint64_t task_id_;
  std::string function_;
  std::string node_;
  std::uint32_t attempt_;
  std::string type_name_;
  std::string message_;
};

}  // namespace skein
