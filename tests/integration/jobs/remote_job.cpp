// remote_job: the job binary of the distributed-execution integration tests
// (remote_test.cpp). One program, one scenario per mode; every mode checks its
// own results and prints one "RESULT ..." line the test parses, then exits 0
// only if the scenario held. Tasks report the node they ran on, so placement is
// observable from the output.
//
//   remote_job roundtrip N                 N sequential spawn+get, values checked
//   remote_job exception                   a remote throw reaches the caller
//   remote_job wg N                        DistWaitGroup joining N tasks (spread)
//   remote_job place POLICY [NODE]         30 concurrent tasks; per-node counts
//   remote_job retry N MS DIR              N futures + N wg tasks sleeping MS each;
//                                          each task records its worker pid in DIR
//   remote_job noretry NODE MS DIR         tasks pinned to NODE, max_retries 0
//   remote_job unplaceable                 a label no node has
//   remote_job poison                      a task that crashes its worker
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "skein/skein.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Leaves "<dir>/<pid>" behind so the test can find (and kill) task workers.
void record_worker(const std::string& dir) {
  const std::string path = dir + "/" + std::to_string(::getpid());
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd >= 0) {
    const std::string node = skein::cluster::node_id();
    [[maybe_unused]] ssize_t w = ::write(fd, node.data(), node.size());
    ::close(fd);
  }
}

std::int64_t square(std::int64_t x) { return x * x; }
SKEIN_REMOTE(square);

std::string where(int sleep_ms) {
  skein::sleep_for(std::chrono::milliseconds(sleep_ms));
  return skein::cluster::node_id();
}
SKEIN_REMOTE(where);

int thrower(int code) {
  throw std::out_of_range("code " + std::to_string(code) + " is out of range");
}
SKEIN_REMOTE(thrower);

void tick(std::int64_t) {}
SKEIN_REMOTE(tick);

std::int64_t slow_square(std::int64_t x, int ms, std::string dir) {
  record_worker(dir);
  skein::sleep_for(std::chrono::milliseconds(ms));
  return x * x;
}
SKEIN_REMOTE(slow_square);

void slow_tick(std::int64_t, int ms, std::string dir) {
  record_worker(dir);
  skein::sleep_for(std::chrono::milliseconds(ms));
}
SKEIN_REMOTE(slow_tick);

int crash(int) {
  ::raise(SIGSEGV);
  return 0;
}
SKEIN_REMOTE(crash);

// task_error_name with '_' for ' ', so it stays one word of a RESULT line.
std::string kind(const skein::RemoteError& e) {
  std::string k = skein::task_error_name(e.kind());
  for (char& c : k) {
    if (c == ' ') c = '_';
  }
  return k;
}

long to_long(const char* s) { return std::strtol(s, nullptr, 10); }

int roundtrip(long n) {
  std::map<std::string, int> nodes;
  for (long i = 0; i < n; ++i) {
    const std::int64_t v = skein::spawn(SKEIN_FN(square), i).get();
    if (v != i * i) {
      std::printf("RESULT roundtrip WRONG square(%ld) = %" PRId64 "\n", i, v);
      return 1;
    }
  }
  for (int i = 0; i < 6; ++i) {
    ++nodes[skein::spawn(SKEIN_FN(where), 0).get()];
  }
  std::printf("RESULT roundtrip ok %ld nodes=%zu\n", n, nodes.size());
  return 0;
}

int exception() {
  try {
    skein::spawn(SKEIN_FN(thrower), 42).get();
  } catch (const skein::RemoteError& e) {
    std::printf("RESULT exception kind=%s type=%s node=%s task=%" PRIu64 " message=[%s]\n",
                kind(e).c_str(), e.type_name().c_str(), e.node().c_str(), e.task_id(),
                e.message().c_str());
    std::printf("what: %s\n", e.what());
    return e.kind() == skein::TaskError::kException ? 0 : 1;
  }
  std::printf("RESULT exception NOT THROWN\n");
  return 1;
}

int waitgroup(long n) {
  const auto t0 = Clock::now();
  skein::DistWaitGroup wg;
  const skein::SpawnOptions spread{.placement = skein::Placement::spread()};
  for (long i = 0; i < n; ++i) {
    skein::spawn(wg, spread, SKEIN_FN(tick), i);
  }
  wg.wait();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  std::printf("RESULT wg ok %ld count=%" PRId64 " in %lld ms\n", n, wg.count(),
              static_cast<long long>(ms.count()));
  return wg.count() == 0 ? 0 : 1;
}

int place(const std::string& policy, const std::string& node) {
  skein::SpawnOptions opt;
  if (policy == "least_loaded") {
    opt.placement = skein::Placement::least_loaded();
  } else if (policy == "local_first") {
    opt.placement = skein::Placement::local_first();
  } else if (policy == "spread") {
    opt.placement = skein::Placement::spread();
  } else if (policy == "pinned") {
    opt.placement = skein::Placement::pinned(node);
  } else {
    std::fprintf(stderr, "unknown policy %s\n", policy.c_str());
    return 2;
  }
  std::map<std::string, int> count;
  if (policy == "local_first") {
    // One at a time: the owner's Ps are never saturated, so all stay home.
    for (int i = 0; i < 30; ++i) {
      ++count[skein::spawn(opt, SKEIN_FN(where), 1).get()];
    }
  } else {
    std::vector<skein::Future<std::string>> fs;
    for (int i = 0; i < 30; ++i) {
      fs.push_back(skein::spawn(opt, SKEIN_FN(where), 200));
    }
    for (auto& f : fs) {
      ++count[f.get()];
    }
  }
  std::printf("RESULT place %s driver=%s", policy.c_str(), skein::cluster::node_id().c_str());
  for (const auto& [n, c] : count) {
    std::printf(" %s=%d", n.c_str(), c);
  }
  std::printf("\n");
  return 0;
}

int retry(long n, int ms, const std::string& dir) {
  skein::DistWaitGroup wg;
  std::vector<skein::Future<std::int64_t>> fs;
  const skein::SpawnOptions opt{.placement = skein::Placement::spread(), .max_retries = 3};
  for (long i = 0; i < n; ++i) {
    fs.push_back(skein::spawn(opt, SKEIN_FN(slow_square), i, ms, dir));
    skein::spawn(wg, opt, SKEIN_FN(slow_tick), i, ms, dir);
  }
  std::int64_t sum = 0;
  std::int64_t want = 0;
  for (long i = 0; i < n; ++i) {
    sum += fs[static_cast<std::size_t>(i)].get();
    want += i * i;
  }
  wg.wait();
  std::printf("RESULT retry %s sum=%" PRId64 " want=%" PRId64 " wg=%" PRId64 "\n",
              sum == want ? "ok" : "WRONG", sum, want, wg.count());
  return sum == want && wg.count() == 0 ? 0 : 1;
}

int noretry(const std::string& node, int ms, const std::string& dir) {
  const skein::SpawnOptions opt{.placement = skein::Placement::pinned(node), .max_retries = 0};
  std::vector<skein::Future<std::int64_t>> fs;
  for (int i = 0; i < 4; ++i) {
    fs.push_back(skein::spawn(opt, SKEIN_FN(slow_square), i, ms, dir));
  }
  int failed = 0;
  for (auto& f : fs) {
    try {
      f.get();
    } catch (const skein::RemoteError& e) {
      ++failed;
      std::printf("error: kind=%s node=%s what=%s\n", kind(e).c_str(), e.node().c_str(), e.what());
      if (e.kind() != skein::TaskError::kNodeLost || e.node() != node) {
        std::printf("RESULT noretry WRONG KIND OR NODE\n");
        return 1;
      }
    }
  }
  std::printf("RESULT noretry failed=%d of %zu\n", failed, fs.size());
  return failed == static_cast<int>(fs.size()) ? 0 : 1;
}

int unplaceable() {
  const auto t0 = Clock::now();
  skein::SpawnOptions opt;
  opt.resources.labels = {"gpu=h100"};
  try {
    skein::spawn(opt, SKEIN_FN(square), 3).get();
  } catch (const skein::RemoteError& e) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    std::printf("RESULT unplaceable kind=%s after %lld ms: %s\n", kind(e).c_str(),
                static_cast<long long>(ms), e.what());
    return e.kind() == skein::TaskError::kUnplaceable ? 0 : 1;
  }
  std::printf("RESULT unplaceable NOT THROWN\n");
  return 1;
}

int poison() {
  const skein::SpawnOptions opt{.max_retries = 10};
  try {
    skein::spawn(opt, SKEIN_FN(crash), 1).get();
  } catch (const skein::RemoteError& e) {
    std::printf("RESULT poison kind=%s attempt=%u: %s\n", kind(e).c_str(), e.attempt(), e.what());
    return e.kind() == skein::TaskError::kPoisoned ? 0 : 1;
  }
  std::printf("RESULT poison NOT THROWN\n");
  return 1;
}

int run_mode(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const auto arg = [&](int i) { return i < argc ? std::string(argv[i]) : std::string(); };
  if (mode == "roundtrip") return roundtrip(to_long(arg(2).c_str()));
  if (mode == "exception") return exception();
  if (mode == "wg") return waitgroup(to_long(arg(2).c_str()));
  if (mode == "place") return place(arg(2), arg(3));
  if (mode == "retry") {
    return retry(to_long(arg(2).c_str()), static_cast<int>(to_long(arg(3).c_str())), arg(4));
  }
  if (mode == "noretry") {
    return noretry(arg(2), static_cast<int>(to_long(arg(3).c_str())), arg(4));
  }
  if (mode == "unplaceable") return unplaceable();
  if (mode == "poison") return poison();
  std::fprintf(stderr,
               "usage: remote_job roundtrip N | exception | wg N | place POLICY [NODE] |"
               " retry N MS DIR | noretry NODE MS DIR | unplaceable | poison\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  return skein::run(argc, argv, [argc, argv]() -> int { return run_mode(argc, argv); });
}
