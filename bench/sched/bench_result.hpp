// The one output format every workload in bench/ shares with its Go twin in
// bench/go/: a single line
//   RESULT name=<workload> ns=<wall-clock ns> key=value ...
// that bench/compare.sh collects. Helpers for the wall clock and the resident
// set size live here too, so the Skein and Go sides measure the same way.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string_view>
#include <utility>

#include <unistd.h>

namespace skein::bench {

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Resident set size from /proc/self/statm (second field, in pages), as the Go
// twin of W6 reads it.
inline std::int64_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) {
    std::perror("open /proc/self/statm");
    std::exit(1);
  }
  long long size = 0;
  long long resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  if (n != 2) {
    std::fprintf(stderr, "cannot parse /proc/self/statm\n");
    std::exit(1);
  }
  return static_cast<std::int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

using Field = std::pair<std::string_view, std::int64_t>;

inline void print_result(std::string_view name, std::int64_t ns,
                         std::initializer_list<Field> extra) {
  std::printf("RESULT name=%.*s ns=%lld", static_cast<int>(name.size()), name.data(),
              static_cast<long long>(ns));
  for (const Field& f : extra) {
    std::printf(" %.*s=%lld", static_cast<int>(f.first.size()), f.first.data(),
                static_cast<long long>(f.second));
  }
  std::printf("\n");
  std::fflush(stdout);
}

// Exits 1 with a message when a workload computed the wrong answer: a fast
// wrong result must never reach the comparison table.
inline void check_eq(std::string_view name, std::string_view what, std::int64_t got,
                     std::int64_t want) {
  if (got != want) {
    std::fprintf(stderr, "%.*s: %.*s %lld, want %lld\n", static_cast<int>(name.size()), name.data(),
                 static_cast<int>(what.size()), what.data(), static_cast<long long>(got),
                 static_cast<long long>(want));
    std::exit(1);
  }
}

// SKEIN_BENCH_STATS=1 prints the runtime's stats snapshot to stderr after a
// run, for profiling; stdout keeps only the RESULT line.
inline bool want_stats() {
  const char* v = std::getenv("SKEIN_BENCH_STATS");
  return v != nullptr && v[0] != '\0' && v[0] != '0';
}

}  // namespace skein::bench
