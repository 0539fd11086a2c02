// CombiningQueue<Item>: adaptive batching by flat combining (DESIGN §4: "send
// at once when the stream is idle, batch when busy — never a fixed delay", and
// no cross-thread wake-up per message).
//
// push(item) appends under a mutex. If nobody is writing, the caller becomes
// the writer: it takes everything queued, releases the mutex, hands the items
// to the drain function (which turns them into frames and writes them), and
// repeats until the queue is empty. Callers that find a writer active only
// append and return; the writer picks their items up on its next round. So an
// idle stream sends a lone item at once (a batch of one), and a busy one sends
// whatever piled up during the previous write as one batch: the batch size
// follows the load without any timer or hand-off to another thread.
//
// offer(item) is push for callers that must not write (the agent link's reader
// thread: writing there could stall the reads the agent is waiting on). It
// returns true when the caller has been made the writer and must arrange for
// run_writer() to be called elsewhere (e.g. in a goroutine); false when an
// active writer will send the item.
//
// Invariants: writing_ is true exactly while one thread is inside the drain
// loop (or has been told to start one); items are drained in push order; every
// pushed item is drained by exactly one round, because a writer only leaves
// the loop after seeing the queue empty under mu_.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

namespace skein::node {

template <class Item>
class CombiningQueue {
 public:
  // Called with a non-empty batch, by one writer at a time, without mu_ held.
  // May leave the vector in any state.
  using Drain = std::function<void(std::vector<Item>&)>;

  struct Counters {
    std::uint64_t items = 0;   // items drained
    std::uint64_t rounds = 0;  // drain calls (one or more frames each)
  };

  explicit CombiningQueue(Drain drain) : drain_(std::move(drain)) {}
  CombiningQueue(const CombiningQueue&) = delete;
  CombiningQueue& operator=(const CombiningQueue&) = delete;

  // Any thread. May write (and block on the socket) in the calling thread.
  void push(Item item) {
    std::unique_lock<std::mutex> lock(mu_);
    queue_.push_back(std::move(item));
    if (writing_) {
      return;
    }
    writing_ = true;
    drain_loop(lock);
  }

  // Any thread; never writes. True: the caller is now the writer and must see
  // that run_writer() is called.
  [[nodiscard]] bool offer(Item item) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(item));
    if (writing_) {
      return false;
    }
    writing_ = true;
    return true;
  }

  // The writer's loop, for a caller that offer() made the writer.
  void run_writer() {
    std::unique_lock<std::mutex> lock(mu_);
    drain_loop(lock);
  }

  Counters counters() const {
    std::lock_guard<std::mutex> lock(mu_);
    return counters_;
  }

 private:
  void drain_loop(std::unique_lock<std::mutex>& lock) {
    std::vector<Item> batch;
    while (!queue_.empty()) {
      batch.swap(queue_);
      counters_.items += batch.size();
      ++counters_.rounds;
      lock.unlock();
      drain_(batch);
      batch.clear();
      lock.lock();
    }
    writing_ = false;
  }

  const Drain drain_;
  mutable std::mutex mu_;
  std::vector<Item> queue_;  // guarded by mu_
  bool writing_ = false;     // guarded by mu_
  Counters counters_;        // guarded by mu_
};

}  // namespace skein::node
