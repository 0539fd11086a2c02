// Umbrella header for job authors: the node-local scheduler plus the cluster
// bridge. A program written against it runs unchanged in two modes:
//
//   - run directly (`./my_job`): skein::run runs main on the local M:N
//     scheduler, as a plain program;
//   - launched by a node agent (`skein submit ./my_job`): skein::run also
//     connects to the agent's Unix socket, introduces itself (WorkerHello) and
//     reports its scheduler stats about once a second, which is what
//     `skein stats` shows.
//
//   #include <skein/skein.hpp>
//   int main(int argc, char** argv) {
//     return skein::run(argc, argv, [] { std::puts("hello from a goroutine"); });
//   }
//
// Linking: the cluster mode lives in libskein (target skein::skein) and takes
// over skein::run through a hook registered at static-initialization time. A
// static library member that nothing references is dropped by the linker,
// so this header references a symbol of the registering object file; any
// program that includes it keeps cluster mode.
#pragma once

#include "skein/cluster.hpp"
#include "skein/sched.hpp"
#include "skein/spawn.hpp"

namespace skein::detail {
// Defined next to the run hook's registration (node/worker/run.cpp).
extern const int cluster_run_hook_anchor;
[[gnu::used]] static const int* const cluster_run_hook_anchor_ref = &cluster_run_hook_anchor;
}  // namespace skein::detail
