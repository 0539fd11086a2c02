// Remote functions: SKEIN_REMOTE(f) makes f callable by name in any process of
// the job; SKEIN_FN(f) is the typed handle skein::spawn takes.
//
//   long fib(int n);
//   SKEIN_REMOTE(fib);                               // registers "fib"
//   auto f = skein::spawn(SKEIN_FN(fib), 30);        // Future<long>, type-checked
//
// The model: every process of a job runs the same binary, so every process
// has the same table of name -> invoker, filled at static-initialization time.
// A task names its function by that string; the process that runs it looks
// the name up and calls the invoker, which decodes the argument tuple, calls
// the function and encodes its result or the exception it threw
// (detail/serialize.hpp). SKEIN_FN(f) resolves to the name f was registered
// under through f's address, so spawn never repeats the name by hand.
//
// Rules:
//  - SKEIN_REMOTE(f) goes at namespace scope in exactly one .cpp file; the name
//    is f as written there ("fib", or "ns::fib" if written qualified). Two
//    registrations under one name are a fatal error at startup, before main.
//  - f is a non-overloaded free function (or static member function); its
//    parameters are taken by value or const reference (no out-parameters), and
//    its parameter and result types serialize with cereal (a compile error
//    otherwise).
//  - SKEIN_FN(f) of a function without SKEIN_REMOTE compiles, but spawn throws
//    RemoteError(kUnknownFunction) at run time.
//
// Listing (the submit-time check, DESIGN §4): a binary started with
// SKEIN_LIST_REMOTES=1 in its environment prints its registered names, one per
// line in byte order, to stdout and exits 0 when static initialization ends,
// before main runs. skein::remote_functions() gives the same list in-process.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "skein/detail/serialize.hpp"
#include "skein/detail/task.hpp"

namespace skein {

struct RemoteFunctionInfo {
  std::string name;
  std::string signature;  // the function's type as the compiler spells it
};

// Every registered remote function, sorted by name. Any thread.
std::vector<RemoteFunctionInfo> remote_functions();
bool has_remote_function(std::string_view name);

namespace detail {

// Runs the function on an archived argument tuple; fills out.result or the
// error fields. Never throws.
using RemoteInvoker = void (*)(std::string_view args, TaskOutcome& out);

// Invariant: entries are created once at registration and never freed or
// changed, so pointers to them stay valid for the life of the process.
struct RemoteEntry {
  std::string name;
  std::string signature;
  RemoteInvoker invoke;
};

// Registers an entry; a second registration of `name` prints both signatures
// and ends the process (exit code 2). Called by SKEIN_REMOTE at static init.
const RemoteEntry* register_remote(const char* name, std::string signature, RemoteInvoker invoke);
// nullptr if no function is registered under name. Any thread.
const RemoteEntry* find_remote(std::string_view name);
// Fills out's error fields from the exception in flight (call in a catch).
void capture_exception(TaskOutcome& out);
// If SKEIN_LIST_REMOTES is set to a non-empty value other than "0": prints the
// registered names and exits 0. Idempotent; also safe to call from a run hook.
void list_remotes_if_requested();

template <class T>
constexpr std::string_view type_name() {
  std::string_view p = __PRETTY_FUNCTION__;  // "... [with T = long int (*)(int); ...]"
  const std::size_t start = p.find("T = ") + 4;
  const std::size_t end = p.find_first_of(";]", start);
  return p.substr(start, end - start);
}

template <class F>
struct FnTraits {
  static constexpr bool kIsFunction = false;
};
template <class R, class... A>
struct FnTraits<R (*)(A...)> {
  static constexpr bool kIsFunction = true;
  using Result = R;
  using ArgTuple = std::tuple<std::decay_t<A>...>;
  using Params = std::tuple<A...>;
  static constexpr std::size_t kArity = sizeof...(A);
  static constexpr bool kNoOutParams =
      ((!std::is_lvalue_reference_v<A> || std::is_const_v<std::remove_reference_t<A>>)&&...);
};
template <class R, class... A>
struct FnTraits<R (*)(A...) noexcept> : FnTraits<R (*)(A...)> {};

// The rules at the top of this file, checked where SKEIN_REMOTE and SKEIN_FN
// instantiate F.
template <auto F>
constexpr bool check_remote_signature() {
  using Traits = FnTraits<decltype(F)>;
  static_assert(Traits::kIsFunction, "SKEIN_FN/SKEIN_REMOTE take a non-overloaded free function");
  if constexpr (Traits::kIsFunction) {
    static_assert(Traits::kNoOutParams,
                  "a remote function cannot take non-const lvalue references (no out-parameters)");
    static_assert(!std::is_reference_v<typename Traits::Result> &&
                      !std::is_pointer_v<typename Traits::Result>,
                  "a remote function returns a value (no references or pointers)");
    return Traits::kNoOutParams;
  }
  return false;
}

template <auto F>
void invoke_checked(std::string_view args, TaskOutcome& out) {
  using Traits = FnTraits<decltype(F)>;
  using ArgTuple = typename Traits::ArgTuple;
  ArgTuple tuple;
  try {
    tuple = decode<ArgTuple>(args);
  } catch (const PayloadError& e) {
    out.error = TaskError::kBadPayload;
    out.type_name = "skein::detail::PayloadError";
    out.message = std::string("arguments: ") + e.what();
    return;
  }
  try {
    if constexpr (std::is_void_v<typename Traits::Result>) {
      std::apply(F, std::move(tuple));
      out.result.clear();
    } else {
      out.result = encode(std::apply(F, std::move(tuple)));
    }
    out.error = TaskError::kNone;
  } catch (...) {
    capture_exception(out);
  }
}

template <auto F>
void invoke_remote(std::string_view args, TaskOutcome& out) {
  if constexpr (!check_remote_signature<F>()) {
    return;
  } else {
    invoke_checked<F>(args, out);
  }
}

// One per remote function: the entry SKEIN_REMOTE registered for F.
template <auto F>
struct RemoteSlot {
  static inline const RemoteEntry* entry = nullptr;
  static bool register_as(const char* name) {
    entry = register_remote(name, std::string(type_name<decltype(F)>()), &invoke_remote<F>);
    return true;
  }
};

}  // namespace detail

// The typed handle SKEIN_FN(f) yields. Its type carries f's signature, so
// spawn checks argument types at compile time and knows the result type.
template <auto F>
struct RemoteFn {
  using Traits = detail::FnTraits<decltype(F)>;
  static_assert(detail::check_remote_signature<F>());
  using Result = typename Traits::Result;
  using ArgTuple = typename Traits::ArgTuple;

  // The registered name, or nullptr if F has no SKEIN_REMOTE.
  static const detail::RemoteEntry* entry() { return detail::RemoteSlot<F>::entry; }
};

}  // namespace skein

#define SKEIN_REMOTE_CAT2_(a, b) a##b
#define SKEIN_REMOTE_CAT_(a, b) SKEIN_REMOTE_CAT2_(a, b)

// Registers f under the name written; see the top of this file.
#define SKEIN_REMOTE(f)                                                                         \
  [[maybe_unused]] static const bool SKEIN_REMOTE_CAT_(skein_remote_registered_, __COUNTER__) = \
      ::skein::detail::RemoteSlot<&f>::register_as(#f)

// The typed handle of a remote function, for skein::spawn.
#define SKEIN_FN(f) (::skein::RemoteFn<&f>{})
