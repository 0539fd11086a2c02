// test_job: the job binary the integration tests submit. One program, one
// behaviour per mode, so every test uploads the same (SDK-linked) binary:
//
//   test_job hello [ARGS...]   prints "hello from job <id>" and its arguments
//   test_job exit N            prints a line, exits with code N
//   test_job segv              dereferences null (SIGSEGV)
//   test_job loop              forks a helper child into its process group, then
//                              keeps goroutines busy and prints a tick every
//                              100 ms until killed (cancel tests)
//   test_job flood MB          writes MB MiB to stdout as fast as it can
//   test_job work SECONDS      spawns goroutines continuously for SECONDS
//                              (stats tests: non-zero spawns/s, busy Ps)
//   test_job pids FILE         like loop, but first writes its own and its
//                              helper's pid to FILE
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "skein/skein.hpp"

namespace {

int usage() {
  std::fprintf(stderr, "usage: test_job hello|exit N|segv|loop|flood MB|work SECONDS|pids FILE\n");
  return 2;
}

pid_t fork_helper() {
  const pid_t child = ::fork();
  if (child == 0) {
    // The helper only sleeps: it must die with its job's process group.
    while (true) {
      ::pause();
    }
  }
  return child;
}

void busy_loop() {
  std::atomic<std::uint64_t> spins{0};
  for (int i = 0; i < 4; ++i) {
    skein::go([&spins] {
      while (true) {
        spins.fetch_add(1, std::memory_order_relaxed);
        skein::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  for (int tick = 0;; ++tick) {
    std::printf("tick %d\n", tick);
    std::fflush(stdout);
    skein::sleep_for(std::chrono::milliseconds(100));
  }
}

void work(double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::uint64_t rounds = 0;
  while (std::chrono::steady_clock::now() < end) {
    skein::WaitGroup wg;
    constexpr int kFanOut = 1000;
    wg.add(kFanOut);
    for (int i = 0; i < kFanOut; ++i) {
      skein::go([&wg] {
        volatile int x = 0;
        for (int k = 0; k < 2000; ++k) {
          x = x + k;
        }
        wg.done();
      });
    }
    wg.wait();
    ++rounds;
  }
  std::printf("work done: %llu rounds of 1000 goroutines\n",
              static_cast<unsigned long long>(rounds));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    return usage();
  }
  const std::string mode = argv[1];
  return skein::run(argc, argv, [&]() -> int {
    const char* job = std::getenv("SKEIN_JOB_ID");
    if (mode == "hello") {
      std::printf("hello from job %s", job != nullptr ? job : "(local)");
      for (int i = 2; i < argc; ++i) {
        std::printf(" [%s]", argv[i]);
      }
      std::printf("\n");
      std::fprintf(stderr, "this line goes to stderr\n");
      return 0;
    }
    if (mode == "exit" && argc > 2) {
      std::printf("exiting with %s\n", argv[2]);
      std::fflush(stdout);
      return std::atoi(argv[2]);
    }
    if (mode == "segv") {
      std::printf("about to crash\n");
      std::fflush(stdout);
      volatile int* p = nullptr;
      *p = 1;
      return 0;
    }
    if (mode == "loop") {
      fork_helper();
      busy_loop();
    }
    if (mode == "pids" && argc > 2) {
      const pid_t helper = fork_helper();
      const std::string tmp = std::string(argv[2]) + ".tmp";
      if (FILE* f = std::fopen(tmp.c_str(), "w")) {
        std::fprintf(f, "%d %d\n", static_cast<int>(::getpid()), static_cast<int>(helper));
        std::fclose(f);
        std::rename(tmp.c_str(), argv[2]);
      }
      busy_loop();
    }
    if (mode == "flood" && argc > 2) {
      const long mb = std::atol(argv[2]);
      std::vector<char> line(1024, 'x');
      line.back() = '\n';
      for (long i = 0; i < mb * 1024; ++i) {
        std::fwrite(line.data(), 1, line.size(), stdout);
      }
      std::fflush(stdout);
      std::printf("flood done\n");
      return 0;
    }
    if (mode == "work" && argc > 2) {
      work(std::atof(argv[2]));
      return 0;
    }
    return usage();
  });
}
