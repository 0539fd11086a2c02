// A job that includes only the scheduler's header, so nothing in its code
// refers to libskein's cluster half. It must still get cluster mode: the
// run hook's object file is kept by the link option Skein::skein carries
// (--undefined=skein_cluster_run_hook_anchor). The test runs it with a cluster
// environment whose agent socket does not exist; only a linked-in hook
// notices and says so on stderr.
#include <cstdio>

#include <skein/sched.hpp>

int main(int argc, char** argv) {
  return skein::run(argc, argv, [] {
    skein::Chan<int> done(0);
    skein::go([done] { done.send(42); });
    std::printf("sched-only job got %d\n", done.recv().value_or(0));
  });
}
