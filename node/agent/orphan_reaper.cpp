#include "agent/orphan_reaper.hpp"

#include <signal.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"

namespace skein::node {
namespace {

struct ProcStat {
  pid_t session = 0;
  std::uint64_t start_time = 0;
  bool zombie = false;
};

bool read_stat(pid_t pid, ProcStat* out) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all;
  if (!std::getline(f, all)) {
    return false;
  }
  const auto close = all.rfind(')');
  if (close == std::string::npos) {
    return false;
  }
  std::istringstream rest(all.substr(close + 2));
  std::string state;
  long ppid = 0, pgrp = 0, session = 0;
  rest >> state >> ppid >> pgrp >> session;
  std::string skip;
  for (int field = 7; field < 22; ++field) {  // up to starttime (field 22)
    rest >> skip;
  }
  rest >> out->start_time;
  out->session = static_cast<pid_t>(session);
  out->zombie = state == "Z" || state == "X";
  return static_cast<bool>(rest);
}

}  // namespace

void record_worker(const std::filesystem::path& records_dir, pid_t pid) {
  ProcStat st;
  if (!read_stat(pid, &st)) {
    return;
  }
  std::error_code ec;
  std::filesystem::create_directories(records_dir, ec);
  std::ofstream(records_dir / std::to_string(pid)) << st.start_time << "\n";
}

void forget_worker(const std::filesystem::path& records_dir, pid_t pid) {
  std::error_code ec;
  std::filesystem::remove(records_dir / std::to_string(pid), ec);
}

int reap_orphans(const std::filesystem::path& records_dir) {
  std::error_code ec;
  int killed = 0;
  for (const auto& rec : std::filesystem::directory_iterator(records_dir, ec)) {
    pid_t worker = 0;
    if (!absl::SimpleAtoi(rec.path().filename().string(), &worker) || worker <= 1) {
      continue;
    }
    std::uint64_t recorded_start = 0;
    std::ifstream(rec.path()) >> recorded_start;
    for (const auto& p : std::filesystem::directory_iterator("/proc", ec)) {
      pid_t pid = 0;
      if (!absl::SimpleAtoi(p.path().filename().string(), &pid)) {
        continue;
      }
      ProcStat st;
      if (!read_stat(pid, &st) || st.zombie) {
        continue;
      }
      const bool same_worker = pid == worker && st.start_time == recorded_start;
      const bool in_its_session = st.session == worker && pid != worker;
      if (same_worker || in_its_session) {
        ::kill(pid, SIGKILL);
        ++killed;
      }
    }
    std::filesystem::remove(rec.path(), ec);
  }
  return killed;
}

}  // namespace skein::node
