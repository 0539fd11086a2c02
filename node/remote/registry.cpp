// The process's table of remote functions, filled by SKEIN_REMOTE at
// static-initialization time and read-only in practice afterwards.
//
// The table is a function-local static so that registrations from any
// translation unit, in any static-initialization order, find it constructed.
// SKEIN_LIST_REMOTES is handled by an initializer of this file: this object
// file comes from libskein_remote.a, which the linker places after the
// program's own object files, and initializers run in link order, so by then
// the program's registrations are done.
#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "skein/remote.hpp"

namespace skein {
namespace detail {
namespace {

struct Registry {
  std::mutex mu;
  // Invariant: entries are never erased, so RemoteEntry pointers stay valid.
  std::map<std::string, std::unique_ptr<RemoteEntry>, std::less<>> by_name;  // guarded by mu
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: tasks may run during exit
  return *r;
}

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> p(abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                           std::free);
  return status == 0 && p ? std::string(p.get()) : std::string(mangled);
}

}  // namespace

const RemoteEntry* register_remote(const char* name, std::string signature, RemoteInvoker invoke) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto [it, inserted] = r.by_name.try_emplace(name);
  if (!inserted) {
    std::fprintf(stderr,
                 "skein: fatal: remote function name \"%s\" is registered twice (%s and %s); "
                 "each SKEIN_REMOTE name must be unique in the binary\n",
                 name, it->second->signature.c_str(), signature.c_str());
    std::fflush(stderr);
    std::_Exit(2);
  }
  it->second = std::make_unique<RemoteEntry>(RemoteEntry{name, std::move(signature), invoke});
  return it->second.get();
}

const RemoteEntry* find_remote(std::string_view name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.by_name.find(name);
  return it == r.by_name.end() ? nullptr : it->second.get();
}

void capture_exception(TaskOutcome& out) {
  out.error = TaskError::kException;
  const std::type_info* type = abi::__cxa_current_exception_type();
  out.type_name = type != nullptr ? demangle(type->name()) : "unknown";
  try {
    throw;
  } catch (const std::exception& e) {
    out.message = e.what();
  } catch (...) {
    out.message = "(an exception not derived from std::exception)";
  }
}

void list_remotes_if_requested() {
  const char* v = std::getenv("SKEIN_LIST_REMOTES");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "0") == 0) {
    return;
  }
  for (const RemoteFunctionInfo& f : remote_functions()) {
    std::printf("%s\n", f.name.c_str());
  }
  std::fflush(stdout);
  std::_Exit(0);
}

namespace {
[[maybe_unused]] const bool g_listed = (list_remotes_if_requested(), true);
}  // namespace

}  // namespace detail

std::vector<RemoteFunctionInfo> remote_functions() {
  detail::Registry& r = detail::registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<RemoteFunctionInfo> out;
  out.reserve(r.by_name.size());
  for (const auto& [name, e] : r.by_name) {
    out.push_back({e->name, e->signature});
  }
  return out;
}

bool has_remote_function(std::string_view name) { return detail::find_remote(name) != nullptr; }

}  // namespace skein
