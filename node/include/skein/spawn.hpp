// skein::spawn: run a SKEIN_REMOTE function as a task that the cluster places
// on some node, and get its result back as a Future (or join it with a
// DistWaitGroup).
//
//   long fib(int n);
//   SKEIN_REMOTE(fib);
//   skein::Future<long> f = skein::spawn(SKEIN_FN(fib), 30);
//   skein::spawn(skein::SpawnOptions{.placement = skein::Placement::spread(),
//                                    .deadline = 5s}, SKEIN_FN(fib), 30);
//   skein::DistWaitGroup wg;
//   skein::spawn(wg, SKEIN_FN(visit), shard);    // wg.add(1) now, done when it ends
//
// The path of a task: spawn encodes the arguments (converted to the function's
// parameter types, checked at compile time) into a TaskSpec with a fresh task
// id, registers the task in this process's owner table (the owner of its
// future and WaitGroup count, as in Ray), and hands it to the transport. In
// local mode (the binary run directly) the transport runs it as a goroutine on
// this process's scheduler; in cluster mode it goes to the node agent and the
// coordinator places it. Either way the process that runs it looks the name up
// in its registry, decodes, calls, and encodes the result, which comes back to
// the owner table as a completion: the first completion per task id fulfils
// the future, later ones are ignored (RELIABILITY R1).
//
// spawn itself never waits for the task, and must be called while a runtime
// runs (inside skein::run), from a goroutine or any thread. It throws
// RemoteError(kUnknownFunction) if the function has no SKEIN_REMOTE.
// Task ids are unique within the process and never reused.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "skein/detail/future_state.hpp"
#include "skein/detail/serialize.hpp"
#include "skein/detail/task.hpp"
#include "skein/dist_waitgroup.hpp"
#include "skein/future.hpp"
#include "skein/remote.hpp"
#include "skein/remote_error.hpp"
#include "skein/spawn_options.hpp"

namespace skein {

namespace detail {

// The process's owner table and transport (node/remote/remote_context.cpp).
std::uint64_t next_task_id();
// Registers the task (future and/or group may be null) and submits it.
void launch(TaskSpec spec, std::shared_ptr<FutureState> future,
            std::shared_ptr<WaitGroupState> group);
[[noreturn]] void throw_unregistered(std::string_view signature);

template <auto F, class... Args>
TaskSpec make_task_spec(const SpawnOptions& options, Args&&... args) {
  const RemoteEntry* entry = RemoteFn<F>::entry();
  if (entry == nullptr) {
    throw_unregistered(type_name<decltype(F)>());
  }
  TaskSpec spec;
  spec.function = entry->name;
  {
    typename RemoteFn<F>::ArgTuple tuple(std::forward<Args>(args)...);
    spec.args = encode(tuple);
  }
  spec.options = options;
  if (options.deadline > std::chrono::steady_clock::duration::zero()) {
    spec.deadline = std::chrono::steady_clock::now() + options.deadline;
  }
  spec.task_id = next_task_id();
  return spec;
}

}  // namespace detail

// Compile-time check of a spawn's arguments against the function's parameters.
template <auto F, class... Args>
concept RemoteCallableWith =
    sizeof...(Args) == RemoteFn<F>::Traits::kArity&& std::is_constructible_v<
                           typename RemoteFn<F>::ArgTuple, Args&&...>;

template <auto F, class... Args>
requires RemoteCallableWith<F, Args...> Future<typename RemoteFn<F>::Result> spawn(
    const SpawnOptions& options, RemoteFn<F>, Args&&... args) {
  detail::TaskSpec spec = detail::make_task_spec<F>(options, std::forward<Args>(args)...);
  auto state = std::make_shared<detail::FutureState>(spec.task_id, spec.function);
  detail::launch(std::move(spec), state, nullptr);
  return Future<typename RemoteFn<F>::Result>(std::move(state));
}

template <auto F, class... Args>
requires RemoteCallableWith<F, Args...> Future<typename RemoteFn<F>::Result> spawn(RemoteFn<F> fn,
                                                                                   Args&&... args) {
  return spawn(SpawnOptions{}, fn, std::forward<Args>(args)...);
}

// Joins the task with wg instead of a future: wg.add(1) happens before spawn
// returns; the result value is discarded. Returns the task id.
template <auto F, class... Args>
requires RemoteCallableWith<F, Args...> std::uint64_t spawn(DistWaitGroup& wg,
                                                            const SpawnOptions& options,
                                                            RemoteFn<F>, Args&&... args) {
  detail::TaskSpec spec = detail::make_task_spec<F>(options, std::forward<Args>(args)...);
  spec.wants_result = false;
  const std::uint64_t id = spec.task_id;
  detail::launch(std::move(spec), nullptr, wg.state());
  return id;
}

template <auto F, class... Args>
requires RemoteCallableWith<F, Args...> std::uint64_t spawn(DistWaitGroup& wg, RemoteFn<F> fn,
                                                            Args&&... args) {
  return spawn(wg, SpawnOptions{}, fn, std::forward<Args>(args)...);
}

}  // namespace skein
