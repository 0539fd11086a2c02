#include "outbox.hpp"

#include <vector>

namespace skein::coordinator {
namespace {

size_t payload_of(const v1::CoordinatorMessage& m) {
  size_t bytes = 0;
  if (m.has_tasks()) {
    for (const auto& t : m.tasks().tasks()) {
      bytes += t.args().size();
    }
  } else if (m.has_results()) {
    for (const auto& r : m.results().results()) {
      bytes += r.result().size();
    }
  }
  return bytes;
}

bool same_owner(const v1::TaskOwner& a, const v1::TaskOwner& b) {
  return a.worker_id() == b.worker_id() && a.node_id() == b.node_id();
}

// Moves every element of `from` to the end of `into`: the element objects
// change hands, their bytes are neither copied nor reallocated.
template <typename T>
void move_all(google::protobuf::RepeatedPtrField<T>* from,
              google::protobuf::RepeatedPtrField<T>* into) {
  const int n = from->size();
  std::vector<T*> moved(static_cast<size_t>(n));
  from->ExtractSubrange(0, n, moved.data());
  into->Reserve(into->size() + n);
  for (T* e : moved) {
    into->AddAllocated(e);
  }
}

}  // namespace

std::vector<v1::CoordinatorMessage> Outbox::take_all() {
  std::vector<v1::CoordinatorMessage> out;
  out.reserve(queue_.size());
  for (auto& e : queue_) {
    out.push_back(std::move(e.msg));
  }
  queue_.clear();
  return out;
}

void Outbox::push(v1::CoordinatorMessage&& msg, bool front_busy) {
  size_t payload = payload_of(msg);
  bool can_merge = !queue_.empty() && !(front_busy && queue_.size() == 1);
  if (can_merge) {
    Entry& last = queue_.back();
    if (msg.has_tasks() && last.msg.has_tasks() &&
        msg.tasks().job_id() == last.msg.tasks().job_id() &&
        same_owner(msg.tasks().owner(), last.msg.tasks().owner()) &&
        last.msg.tasks().tasks_size() + msg.tasks().tasks_size() <= kMaxEntries &&
        last.payload + payload <= kMaxPayloadBytes) {
      move_all(msg.mutable_tasks()->mutable_tasks(), last.msg.mutable_tasks()->mutable_tasks());
      last.payload += payload;
      ++merged_;
      return;
    }
    if (msg.has_results() && last.msg.has_results() &&
        msg.results().job_id() == last.msg.results().job_id() &&
        same_owner(msg.results().owner(), last.msg.results().owner()) &&
        last.msg.results().results_size() + msg.results().results_size() <= kMaxEntries &&
        last.payload + payload <= kMaxPayloadBytes) {
      move_all(msg.mutable_results()->mutable_results(),
               last.msg.mutable_results()->mutable_results());
      last.payload += payload;
      ++merged_;
      return;
    }
  }
  queue_.push_back(Entry{std::move(msg), payload});
}

}  // namespace skein::coordinator
