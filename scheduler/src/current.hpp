// The only thread-local state of the scheduler: which M this OS thread is.
//
// A goroutine may park on one M and resume on another, and compilers may cache
// a thread_local's address across a call that switches stacks (llvm#98479,
// capnproto#1842). So every access goes through these noinline functions, and
// code never keeps what they return across a park, yield or spawn boundary.
#pragma once

namespace skein::detail {

struct M;
struct G;

[[gnu::noinline]] M* current_m();
[[gnu::noinline]] void set_current_m(M* m);
// The G this thread is running, or nullptr (g0 or a foreign thread).
[[gnu::noinline]] G* current_running_g();

}  // namespace skein::detail
