#include "worker/task_wire.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <utility>

namespace skein::node {
namespace {

skein::v1::PlacementKind to_proto(Placement::Kind k) {
  switch (k) {
    case Placement::Kind::kLeastLoaded:
      return skein::v1::PLACEMENT_KIND_LEAST_LOADED;
    case Placement::Kind::kLocalFirst:
      return skein::v1::PLACEMENT_KIND_LOCAL_FIRST;
    case Placement::Kind::kSpread:
      return skein::v1::PLACEMENT_KIND_SPREAD;
    case Placement::Kind::kPinned:
      return skein::v1::PLACEMENT_KIND_PINNED;
  }
  return skein::v1::PLACEMENT_KIND_LEAST_LOADED;
}

Placement from_proto(skein::v1::PlacementKind k, const std::string& node) {
  switch (k) {
    case skein::v1::PLACEMENT_KIND_LOCAL_FIRST:
      return Placement::local_first();
    case skein::v1::PLACEMENT_KIND_SPREAD:
      return Placement::spread();
    case skein::v1::PLACEMENT_KIND_PINNED:
      return Placement::pinned(node);
    default:
      return Placement::least_loaded();
  }
}

constexpr std::uint32_t kHighestKnownError = static_cast<std::uint32_t>(TaskError::kCanceled);

}  // namespace

void to_proto(detail::TaskSpec&& spec, skein::v1::Task* out) {
  out->set_task_id(spec.task_id);
  out->set_attempt(spec.attempt);
  out->set_function(std::move(spec.function));
  out->set_args(std::move(spec.args));
  out->set_placement(to_proto(spec.options.placement.kind()));
  if (spec.options.placement.kind() == Placement::Kind::kPinned) {
    out->set_pinned_node(spec.options.placement.node());
  }
  const Resources& r = spec.options.resources;
  if (r.cpus != 0 || r.memory_bytes != 0 || !r.labels.empty()) {
    auto* res = out->mutable_resources();
    res->set_cpus(r.cpus);
    res->set_memory_bytes(r.memory_bytes);
    for (const std::string& l : r.labels) {
      res->add_labels(l);
    }
  }
  if (spec.deadline != std::chrono::steady_clock::time_point::max()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          spec.deadline - std::chrono::steady_clock::now())
                          .count();
    out->set_deadline_ms(left < 1 ? 1u
                                  : static_cast<std::uint32_t>(std::min<long long>(
                                        left, std::numeric_limits<std::uint32_t>::max())));
  }
  out->set_wants_result(spec.wants_result);
}

detail::TaskSpec from_proto(skein::v1::Task&& task) {
  detail::TaskSpec spec;
  spec.task_id = task.task_id();
  spec.attempt = task.attempt();
  spec.function = std::move(*task.mutable_function());
  spec.args = std::move(*task.mutable_args());
  spec.options.placement = from_proto(task.placement(), task.pinned_node());
  spec.options.resources.cpus = task.resources().cpus();
  spec.options.resources.memory_bytes = task.resources().memory_bytes();
  for (const std::string& l : task.resources().labels()) {
    spec.options.resources.labels.push_back(l);
  }
  if (task.deadline_ms() != 0) {
    spec.options.deadline = std::chrono::milliseconds(task.deadline_ms());
    spec.deadline = std::chrono::steady_clock::now() + spec.options.deadline;
  }
  spec.wants_result = task.wants_result();
  return spec;
}

void to_proto(std::uint64_t task_id, std::uint32_t attempt, detail::TaskOutcome&& outcome,
              skein::v1::TaskResult* out) {
  out->set_task_id(task_id);
  out->set_attempt(attempt);
  out->set_error(static_cast<std::uint32_t>(outcome.error));
  if (!outcome.result.empty()) {
    out->set_result(std::move(outcome.result));
  }
  if (!outcome.type_name.empty()) {
    out->set_type_name(std::move(outcome.type_name));
  }
  if (!outcome.message.empty()) {
    out->set_message(std::move(outcome.message));
  }
  out->set_node(std::move(outcome.node));
}

detail::TaskCompletion from_proto(skein::v1::TaskResult&& result) {
  detail::TaskCompletion c;
  c.task_id = result.task_id();
  c.attempt = result.attempt();
  detail::TaskOutcome& o = c.outcome;
  if (result.error() > kHighestKnownError) {
    o.error = TaskError::kBadPayload;
    o.type_name = task_error_name(TaskError::kBadPayload);
    o.message = "result carries unknown error number " + std::to_string(result.error()) + ": " +
                result.message();
  } else {
    o.error = static_cast<TaskError>(result.error());
    o.type_name = std::move(*result.mutable_type_name());
    o.message = std::move(*result.mutable_message());
    if (o.type_name.empty() && o.error != TaskError::kNone) {
      o.type_name = task_error_name(o.error);
    }
  }
  o.result = std::move(*result.mutable_result());
  o.node = std::move(*result.mutable_node());
  return c;
}

}  // namespace skein::node
