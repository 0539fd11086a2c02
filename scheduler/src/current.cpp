#include "current.hpp"

#include "m.hpp"

namespace skein::detail {

namespace {
thread_local M* tls_m = nullptr;
}  // namespace

M* current_m() { return tls_m; }

void set_current_m(M* m) { tls_m = m; }

G* current_running_g() {
  M* m = tls_m;
  return m != nullptr ? m->curg : nullptr;
}

}  // namespace skein::detail
