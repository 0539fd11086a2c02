// select: wait on several channel operations at once; exactly one fires.
//
//   int i = skein::select(
//       skein::recv(jobs, [&](std::optional<Job> j) { if (j) run(*j); }),
//       skein::send(results, r, [&] { ++sent; }),
//       skein::recv(ctx.done()),                     // no callback needed
//       skein::default_([&] { idle(); }));           // optional, at most one
//   // i: the argument position of the case that fired (here 0..3).
//
// Cases (any mix of element types):
//   recv(ch [, fn])     ready when a value is available or ch is closed; fn is
//                       called with std::optional<T> (nullopt: closed and
//                       drained), or with no arguments if it takes none.
//   send(ch, v [, fn])  ready when ch can take v; fn() runs after the send. A
//                       non-const lvalue v is moved from only if this case
//                       fires (so a move-only value stays with the caller
//                       otherwise); an rvalue or const value is held by the case.
//                       A send case on a closed channel panics, as in Go.
//   default_([fn])      fires when no other case is ready; without it select
//                       parks until one is.
// A case on a nil channel (Chan<T>()) is never ready. select() with only nil
// channels and no default parks forever (Go's `select {}`).
//
// Semantics (Go's selectgo): when several cases are ready, one is chosen
// uniformly at random (the channels are polled in a random permutation).
// Otherwise the goroutine enqueues one Waiter per case on every channel and
// parks; the first counterpart to win a compare-and-swap on the select's
// shared state fires that case, every other counterpart skips the stale
// Waiters, and the woken goroutine removes them before select returns. So
// exactly one case fires, and no value is lost or duplicated even with
// thousands of goroutines selecting on the same channels. Channels are locked
// in address order (each once, even if it appears in several cases), so
// concurrent selects cannot deadlock on each other.
//
// Happens-before: the same as the channel operation that fired. The callback
// runs in the calling goroutine after every channel lock is released; it may
// itself use channels or select.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "skein/chan.hpp"

namespace skein {

namespace detail {

struct SelectCaseRaw {
  ChanCore* chan;  // nullptr: nil channel, never ready
  void* elem;      // send: the constructed value; recv: raw storage
  bool is_send;
};

// Per-call scratch the caller provides (n entries each; order has 2n).
struct SelectScratch {
  Waiter* waiters;
  std::uint16_t* order;
  ChanCore** locks;
};

// Returns the index of the case that fired, or -1 if none was ready and
// !block. *recv_ok: for a recv case, false iff it fired because of close.
int select_impl(SelectCaseRaw* cases, int n, SelectScratch scratch, bool block, bool* recv_ok);

struct NoCallback {
  void operator()() const noexcept {}
};

template <class F, class... Args>
void invoke_case_fn(F& fn, Args&&... args) {
  if constexpr (std::is_invocable_v<F&, Args...>) {
    fn(std::forward<Args>(args)...);
  } else {
    static_assert(std::is_invocable_v<F&>, "select case callback has the wrong signature");
    fn();
  }
}

}  // namespace detail

template <class T, class F>
class RecvCase {
 public:
  RecvCase(const Chan<T>& ch, F fn) : core_(chan_core(ch)), fn_(std::move(fn)) {}
  detail::SelectCaseRaw raw() { return {core_, slot_.bytes, false}; }
  void fire(bool ok) {
    if (ok) {
      detail::invoke_case_fn(fn_, slot_.take());
    } else {
      detail::invoke_case_fn(fn_, std::optional<T>());
    }
  }

 private:
  detail::ChanCore* core_;
  F fn_;
  detail::RecvSlot<T> slot_;
};

template <class T, class F>
class SendCase {
 public:
  // Sends *ptr: the caller's lvalue.
  SendCase(const Chan<T>& ch, T* ptr, F fn) : core_(chan_core(ch)), ptr_(ptr), fn_(std::move(fn)) {}
  // Sends a value the case owns.
  SendCase(const Chan<T>& ch, std::in_place_t, T&& v, F fn)
      : core_(chan_core(ch)), owned_(std::move(v)), ptr_(&*owned_), fn_(std::move(fn)) {}
  SendCase(const SendCase&) = delete;
  SendCase& operator=(const SendCase&) = delete;
  detail::SelectCaseRaw raw() { return {core_, ptr_, true}; }
  void fire(bool) { detail::invoke_case_fn(fn_); }

 private:
  detail::ChanCore* core_;
  std::optional<T> owned_;
  T* ptr_;
  F fn_;
};

template <class F>
class DefaultCase {
 public:
  explicit DefaultCase(F fn) : fn_(std::move(fn)) {}
  void fire(bool) { detail::invoke_case_fn(fn_); }

 private:
  F fn_;
};

template <class T, class F = detail::NoCallback>
RecvCase<T, std::decay_t<F>> recv(const Chan<T>& ch, F&& fn = {}) {
  return RecvCase<T, std::decay_t<F>>(ch, std::forward<F>(fn));
}

// Non-const lvalue: moved from only if the case fires.
template <class T, class F = detail::NoCallback>
SendCase<T, std::decay_t<F>> send(const Chan<T>& ch, T& v, F&& fn = {}) {
  return SendCase<T, std::decay_t<F>>(ch, &v, std::forward<F>(fn));
}
// Rvalue or const value: the case holds it.
template <class T, class U, class F = detail::NoCallback>
requires(std::is_constructible_v<T, U&&> &&
         !std::is_same_v<U, T&>) SendCase<T, std::decay_t<F>> send(const Chan<T>& ch, U&& v,
                                                                   F&& fn = {}) {
  return SendCase<T, std::decay_t<F>>(ch, std::in_place, T(std::forward<U>(v)),
                                      std::forward<F>(fn));
}

template <class F = detail::NoCallback>
DefaultCase<std::decay_t<F>> default_(F&& fn = {}) {
  return DefaultCase<std::decay_t<F>>(std::forward<F>(fn));
}

namespace detail {
template <class C>
inline constexpr bool kIsDefaultCase = false;
template <class F>
inline constexpr bool kIsDefaultCase<DefaultCase<F>> = true;
}  // namespace detail

// Runs the one case that fires (see the top of this file); returns its
// argument position.
template <class... Cases>
int select(Cases&&... cases) {
  constexpr std::size_t kN = sizeof...(Cases);
  constexpr std::size_t kDefaults =
      (std::size_t{0} + ... + (detail::kIsDefaultCase<std::decay_t<Cases>> ? 1 : 0));
  static_assert(kDefaults <= 1, "select: at most one default_ case");
  constexpr std::size_t kChans = kN - kDefaults;
  static_assert(kChans < 0x8000, "select: too many cases");

  std::array<detail::SelectCaseRaw, kChans> raw{};
  std::array<int, kChans + 1> arg_of{};  // raw index -> argument position
  int default_arg = -1;
  {
    std::size_t k = 0;
    int arg = 0;
    auto collect = [&](auto& c) {
      if constexpr (detail::kIsDefaultCase<std::decay_t<decltype(c)>>) {
        default_arg = arg;
      } else {
        raw[k] = c.raw();
        arg_of[k] = arg;
        ++k;
      }
      ++arg;
    };
    (collect(cases), ...);
  }
  std::array<detail::Waiter, kChans> waiters;
  std::array<std::uint16_t, 2 * kChans> order;
  std::array<detail::ChanCore*, kChans> locks;
  bool ok = false;
  const int r =
      detail::select_impl(raw.data(), static_cast<int>(kChans),
                          {waiters.data(), order.data(), locks.data()}, kDefaults == 0, &ok);
  const int chosen = r < 0 ? default_arg : arg_of[static_cast<std::size_t>(r)];
  int arg = 0;
  auto fire = [&](auto& c) {
    if (arg++ == chosen) {
      c.fire(ok);
    }
  };
  (fire(cases), ...);
  return chosen;
}

}  // namespace skein
