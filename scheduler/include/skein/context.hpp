// Context: cancellation and deadlines that flow down a tree of goroutines
// (Go's context package, without values).
//
//   auto [ctx, cancel] = skein::with_timeout(skein::Context::background(), 50ms);
//   skein::go([ctx] {
//     for (;;) {
//       int i = skein::select(skein::recv(ctx.done()), skein::recv(work, handle));
//       if (i == 0) return;  // ctx.err() says why: kCanceled or kDeadlineExceeded
//     }
//   });
//   ...
//   cancel();  // idempotent; always call it to release the timer and the link
//
// A Context is a cheap shared handle (copy it into goroutines). Each derived
// context is a child of its parent: cancelling a parent (by its CancelFn or
// its deadline) cancels every descendant with the parent's error; cancelling a
// child leaves the parent alone and unlinks the child from it. A child's
// deadline is the earlier of its own and its parent's.
//
//   done()      a channel that is closed when the context is cancelled, so a
//               recv on it (or a select case) returns nullopt from then on.
//               background()'s done() is the nil channel: never ready.
//   err()       kNone while live; kCanceled or kDeadlineExceeded once done()
//               is closed (set before the close, so a goroutine that saw
//               done() closed sees err() != kNone).
//   deadline()  when it will be cancelled by time, if ever.
// Happens-before: everything before a cancel (or the deadline timer firing)
// happens before the receives on done() that it unblocks.
//
// Lifetime: a parent keeps its uncancelled children alive (as Go does, so
// forgetting cancel leaks them until the parent ends); a deadline timer keeps
// its context alive until it fires or cancel() stops it. Deadlines need a
// running runtime (they are runtime timers).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <variant>

#include "skein/chan.hpp"
#include "skein/time.hpp"

namespace skein {

enum class ContextErr : std::uint8_t {
  kNone,              // not cancelled
  kCanceled,          // "context canceled": a CancelFn ran
  kDeadlineExceeded,  // "context deadline exceeded"
};
const char* context_err_message(ContextErr e);

namespace detail {
class ContextState;
}

class Context {
 public:
  // The root: never cancelled, no deadline.
  static Context background();

  Chan<std::monostate> done() const;
  ContextErr err() const;
  std::optional<Clock::time_point> deadline() const;

 private:
  friend struct ContextAccess;
  explicit Context(std::shared_ptr<detail::ContextState> s) : s_(std::move(s)) {}
  std::shared_ptr<detail::ContextState> s_;  // nullptr for background
};

// Cancels its context with kCanceled (and so its descendants). Idempotent; any
// goroutine or thread.
class CancelFn {
 public:
  void operator()() const;

 private:
  friend struct ContextAccess;
  explicit CancelFn(std::shared_ptr<detail::ContextState> s) : s_(std::move(s)) {}
  std::shared_ptr<detail::ContextState> s_;
};

struct WithCancel {
  Context ctx;
  CancelFn cancel;
};

WithCancel with_cancel(const Context& parent);
WithCancel with_deadline(const Context& parent, Clock::time_point deadline);
WithCancel with_timeout(const Context& parent, Clock::duration timeout);

}  // namespace skein
