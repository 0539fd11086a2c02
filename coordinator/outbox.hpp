// Outbox: the queue of CoordinatorMessages waiting to be written on one
// agent's Connect stream, with adaptive batching (DESIGN §4, docs/wire.md
// "Task dispatch"): while the stream is idle a message goes out alone at
// once; while a write is in flight, task and result batches queued behind it
// for the same (job, owner) merge into one message, up to the wire limits
// (1,024 entries, ~1 MiB of args/result bytes). No timer, no delay.
//
// Invariants:
//   - order between messages is kept: merging only ever appends to the last
//     queued message, and never to the front while it is being written
//     (gRPC holds a pointer to it until OnWriteDone);
//   - a merged message holds at most kMaxEntries entries and, unless a single
//     entry is larger, at most kMaxPayloadBytes of payload.
// Thread-safety: none; the reactor guards it with its session lock.
#pragma once

#include <cstddef>
#include <deque>
#include <vector>

#include "skein/v1/node.pb.h"

namespace skein::coordinator {

class Outbox {
 public:
  static constexpr int kMaxEntries = 1024;
  static constexpr size_t kMaxPayloadBytes = size_t{1} << 20;

  // Queues `msg`, merging it into the last queued message when both are
  // batches of the same kind for the same (job, owner) and the limits allow.
  // `front_busy`: the front message is being written and must not change.
  void push(v1::CoordinatorMessage&& msg, bool front_busy);

  bool empty() const { return queue_.empty(); }
  size_t size() const { return queue_.size(); }
  v1::CoordinatorMessage& front() { return queue_.front().msg; }
  void pop_front() { queue_.pop_front(); }
  void clear() { queue_.clear(); }
  // Empties the queue, oldest first (the stream ended with these unsent).
  std::vector<v1::CoordinatorMessage> take_all();
  // Messages merged into an earlier one since construction (for tests/stats).
  size_t merged() const { return merged_; }

 private:
  struct Entry {
    v1::CoordinatorMessage msg;
    size_t payload = 0;  // args/result bytes, counted once at push
  };
  std::deque<Entry> queue_;
  size_t merged_ = 0;
};

}  // namespace skein::coordinator
