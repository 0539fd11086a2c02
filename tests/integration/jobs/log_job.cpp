// log_job: the job binary of the log relay integration test (log_test.cpp,
// issue 10). Usage: log_job NODE...
//
// For every NODE, one task pinned there prints a line to stdout and one to
// stderr naming the node it ran on; then, once those finished, one task per
// NODE prints a stdout line *without* a newline and without fflush, and the
// driver returns at once. Task workers' stdout is a pipe (fully buffered), so
// every stdout line of the tasks is still in a buffer when the job ends: it
// reaches the job's log only if the task worker flushes as it is stopped.
// The driver prints "DRIVER start" and "RESULT ok ..." (unlabelled lines).
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "skein/skein.hpp"

namespace {

std::string shout(std::string want) {
  const std::string node = skein::cluster::node_id();
  std::printf("LINE from=%s want=%s pid=%d\n", node.c_str(), want.c_str(),
              static_cast<int>(::getpid()));
  std::fprintf(stderr, "ERRLINE from=%s want=%s\n", node.c_str(), want.c_str());
  return node;
}
SKEIN_REMOTE(shout);

std::string tail(std::string want) {
  const std::string node = skein::cluster::node_id();
  std::printf("TAIL from=%s want=%s", node.c_str(), want.c_str());  // no newline, no fflush
  return node;
}
SKEIN_REMOTE(tail);

}  // namespace

int main(int argc, char** argv) {
  return skein::run(argc, argv, [&]() -> int {
    std::printf("DRIVER start\n");
    std::vector<std::string> nodes(argv + 1, argv + argc);
    int wrong = 0;
    for (const auto* fn : {"shout", "tail"}) {
      std::vector<skein::Future<std::string>> got;
      for (const auto& n : nodes) {
        const skein::SpawnOptions pinned{.placement = skein::Placement::pinned(n)};
        got.push_back(std::string(fn) == "shout" ? skein::spawn(pinned, SKEIN_FN(shout), n)
                                                 : skein::spawn(pinned, SKEIN_FN(tail), n));
      }
      for (std::size_t i = 0; i < got.size(); ++i) {
        wrong += got[i].get() == nodes[i] ? 0 : 1;
      }
    }
    std::printf("RESULT %s nodes=%zu\n", wrong == 0 ? "ok" : "WRONG", nodes.size());
    return wrong == 0 ? 0 : 1;
  });
}
