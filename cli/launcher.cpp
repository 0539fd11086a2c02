#include "launcher.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"

namespace skein::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollInterval = std::chrono::milliseconds(5);

std::string self_dir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.parent_path().string();
}

bool executable(const std::filesystem::path& p) {
  return ::access(p.c_str(), X_OK) == 0 && std::filesystem::is_regular_file(p);
}

}  // namespace

absl::StatusOr<std::string> find_binary(const std::string& name) {
  const std::filesystem::path dir = self_dir();
  std::vector<std::filesystem::path> candidates = {dir / name};
  if (name == "skein-coordinator") {
    candidates.push_back(dir.parent_path() / "coordinator" / name);
  } else if (name == "skein-node") {
    candidates.push_back(dir.parent_path() / "node" / name);
  }
  for (const auto& c : candidates) {
    if (executable(c)) {
      return c.string();
    }
  }
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string d;
    while (std::getline(ss, d, ':')) {
      if (!d.empty() && executable(std::filesystem::path(d) / name)) {
        return (std::filesystem::path(d) / name).string();
      }
    }
  }
  return absl::NotFoundError(
      absl::StrCat("cannot find ", name, " next to ", dir.string(), " or on PATH"));
}

std::uint64_t process_start_time(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string all;
  if (!std::getline(f, all)) {
    return 0;
  }
  // comm (field 2) may contain spaces and parentheses: fields resume after
  // the last ')'.
  const auto close = all.rfind(')');
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream rest(all.substr(close + 2));
  std::string state;
  std::string field;
  // rest starts at field 3 (state); start time is field 22.
  if (!(rest >> state) || state == "Z" || state == "X") {
    return 0;  // a zombie has exited already
  }
  for (int i = 4; i < 22; ++i) {
    if (!(rest >> field)) {
      return 0;
    }
  }
  std::uint64_t start = 0;
  rest >> start;
  return start;
}

absl::Status write_pidfile(const std::string& path, const PidRecord& rec) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << rec.pid << "\n" << rec.start_time << "\n";
    if (!f) {
      return absl::InternalError(absl::StrCat("write ", tmp));
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("rename ", tmp, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<PidRecord> read_pidfile(const std::string& path) {
  std::ifstream f(path);
  PidRecord rec;
  if (!f) {
    return absl::NotFoundError(absl::StrCat("no pidfile ", path));
  }
  if (!(f >> rec.pid >> rec.start_time) || rec.pid <= 0) {
    return absl::DataLossError(absl::StrCat("malformed pidfile ", path));
  }
  return rec;
}

bool is_running(const PidRecord& rec) {
  // The state check in process_start_time also treats a zombie as gone.
  return rec.pid > 0 && process_start_time(rec.pid) == rec.start_time && rec.start_time != 0;
}

absl::StatusOr<PidRecord> start_daemon(const DaemonSpec& spec) {
  std::vector<std::string> argv_s = {spec.exe};
  argv_s.insert(argv_s.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  const int log = ::open(spec.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0) {
    return absl::InternalError(absl::StrCat("open ", spec.log_file, ": ", std::strerror(errno)));
  }
  const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    ::close(devnull);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    ::setsid();
    ::dup2(devnull, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::close_range(3, ~0U, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log);
  ::close(devnull);
  PidRecord rec{pid, process_start_time(pid)};
  if (absl::Status s = write_pidfile(spec.pid_file, rec); !s.ok()) {
    ::kill(pid, SIGKILL);
    return s;
  }
  return rec;
}

absl::Status stop_process(const PidRecord& rec, std::chrono::milliseconds grace) {
  if (!is_running(rec)) {
    return absl::OkStatus();
  }
  ::kill(rec.pid, SIGTERM);
  const auto deadline = Clock::now() + grace;
  while (Clock::now() < deadline) {
    ::waitpid(rec.pid, nullptr, WNOHANG);  // reap if it is our child
    if (!is_running(rec)) {
      return absl::OkStatus();
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  ::kill(rec.pid, SIGKILL);
  for (int i = 0; i < 200 && is_running(rec); ++i) {
    ::waitpid(rec.pid, nullptr, WNOHANG);
    std::this_thread::sleep_for(kPollInterval);
  }
  if (is_running(rec)) {
    return absl::InternalError(absl::StrCat("pid ", rec.pid, " survived SIGKILL"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> wait_for_file(const std::string& path,
                                          std::chrono::milliseconds timeout, pid_t watch) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    {
      std::ifstream f(path);
      std::string line;
      if (f && std::getline(f, line) && !line.empty()) {
        return line;
      }
    }
    if (watch > 0) {
      int status = 0;
      if (::waitpid(watch, &status, WNOHANG) == watch) {
        return absl::FailedPreconditionError(
            WIFEXITED(status) ? absl::StrCat("exited with code ", WEXITSTATUS(status))
                              : absl::StrCat("was killed by signal ", WTERMSIG(status)));
      }
    }
    if (Clock::now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("timed out after ", timeout.count(), " ms waiting for ", path));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string tail_file(const std::string& path, int max_lines) {
  std::ifstream f(path);
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(f, line)) {
    lines.push_back(line);
    if (static_cast<int>(lines.size()) > max_lines) {
      lines.pop_front();
    }
  }
  std::string out;
  for (const auto& l : lines) {
    out += "  | " + l + "\n";
  }
  return out;
}

}  // namespace skein::cli
