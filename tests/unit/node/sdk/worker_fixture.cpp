// worker_fixture: a job binary for worker_process_test.cpp, run under a fake
// agent in both roles (SKEIN_WORKER_ROLE=task or unset).
//
//   worker_fixture spawn A B     driver: spawn add(A, B), print "RESULT <sum>"
//                                or "ERROR <kind>: <what>" (exit 3)
// In a task worker main's body never runs; "MAIN RAN" would show it did.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "skein/skein.hpp"

namespace {

int add(int a, int b) { return a + b; }
// A task that is itself an owner: it spawns add(x, x) and waits for it.
int doubled(int x) { return skein::spawn(SKEIN_FN(add), x, x).get(); }

}  // namespace

SKEIN_REMOTE(add);
SKEIN_REMOTE(doubled);

int main(int argc, char** argv) {
  std::printf("BEFORE RUN\n");
  std::fflush(stdout);
  return skein::run(argc, argv, [&]() -> int {
    std::printf("MAIN RAN\n");
    std::fflush(stdout);
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "spawn" && argc > 3) {
      try {
        int sum = skein::spawn(SKEIN_FN(add), std::atoi(argv[2]), std::atoi(argv[3])).get();
        std::printf("RESULT %d\n", sum);
        return 0;
      } catch (const skein::RemoteError& e) {
        std::printf("ERROR %s: %s\n", skein::task_error_name(e.kind()), e.what());
        return 3;
      }
    }
    return 0;
  });
}
