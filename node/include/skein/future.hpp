// Future<T>: the result of a remote task, owned by the goroutine's process.
//
//   skein::Future<long> f = skein::spawn(SKEIN_FN(fib), 30);
//   long v = f.get();                      // parks this goroutine, not the thread
//   if (auto v = f.get_for(100ms)) ...     // nullopt: not ready after 100 ms
//   skein::select(skein::recv(f.done()), skein::recv(quit));   // in a select
//
// A Future is a shared handle (like std::shared_future): copies refer to the
// same task, get() may be called any number of times from any goroutines, and
// each call decodes its own copy of the value from the task's result archive.
//
//   get()        parks until the task ends; returns its value or throws
//                skein::RemoteError (exception type and message, node, task id).
//   get_for(d)   waits at most d: std::optional<T> (bool for Future<void>),
//                empty/false on timeout; a failed task throws RemoteError. A
//                timeout says nothing about the task, which keeps running.
//   wait(), wait_for(d), ready()   the same without the value.
//   done()       a channel closed when the task ends (value or error): a
//                recv case on it fires then, so futures can join any select.
//   when_all(fs) parks until every future is ready; the values in order, or
//                the RemoteError of the first failed future (by index).
//
// get, get_for and wait_for must run in a goroutine (get and wait also work
// on a plain thread, blocking it). Happens-before: everything the task did
// before returning happens before get() returns its value.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "skein/detail/future_state.hpp"
#include "skein/detail/serialize.hpp"
#include "skein/remote_error.hpp"

namespace skein {

template <class T>
class Future {
  static_assert(!std::is_reference_v<T>, "Future<T>: T is a value type");

 public:
  using value_type = T;

  Future() = default;  // not valid(): holds no task
  explicit Future(std::shared_ptr<detail::FutureState> state) : state_(std::move(state)) {}

  bool valid() const noexcept { return state_ != nullptr; }
  std::uint64_t task_id() const noexcept { return state_->task_id(); }
  bool ready() const noexcept { return state_->ready(); }
  void wait() const { state_->wait(); }
  bool wait_for(std::chrono::steady_clock::duration d) const { return state_->wait_for(d); }
  const Chan<std::monostate>& done() const noexcept { return state_->done(); }

  T get() const {
    state_->wait();
    return value();
  }

  std::conditional_t<std::is_void_v<T>, bool, std::optional<T>> get_for(
      std::chrono::steady_clock::duration d) const {
    if (!state_->wait_for(d)) {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        return std::nullopt;
      }
    }
    if constexpr (std::is_void_v<T>) {
      value();
      return true;
    } else {
      return value();
    }
  }

 private:
  // Requires ready().
  T value() const {
    const detail::TaskOutcome& o = state_->outcome();
    if (o.error != TaskError::kNone) {
      state_->throw_error();
    }
    if constexpr (!std::is_void_v<T>) {
      try {
        return detail::decode<T>(o.result);
      } catch (const detail::PayloadError& e) {
        throw RemoteError(TaskError::kBadPayload, state_->task_id(), state_->function(), o.node,
                          state_->attempt(), "skein::detail::PayloadError",
                          std::string("result: ") + e.what());
      }
    }
  }

  std::shared_ptr<detail::FutureState> state_;
};

// Parks until every future is ready, then returns their values in order, or
// throws the RemoteError of the first failed one (in index order).
template <class T>
std::conditional_t<std::is_void_v<T>, void, std::vector<T>> when_all(
    const std::vector<Future<T>>& futures) {
  for (const Future<T>& f : futures) {
    f.wait();
  }
  if constexpr (std::is_void_v<T>) {
    for (const Future<T>& f : futures) {
      f.get();
    }
  } else {
    std::vector<T> values;
    values.reserve(futures.size());
    for (const Future<T>& f : futures) {
      values.push_back(f.get());
    }
    return values;
  }
}

}  // namespace skein
