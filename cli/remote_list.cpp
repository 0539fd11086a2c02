#include "remote_list.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace skein::cli {
namespace {

constexpr size_t kMaxNameBytes = 1024;
constexpr char kListVar[] = "SKEIN_LIST_REMOTES";

using Clock = std::chrono::steady_clock;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = fd;
  }

 private:
  int fd_;
};

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

// Waits for `pid` to exit until `deadline`, without reaping it: while the
// zombie leader exists its process-group id cannot be recycled, so the group
// kill that follows can only hit what it left behind.
bool wait_until(pid_t pid, Clock::time_point deadline, siginfo_t* info) {
  while (true) {
    info->si_pid = 0;
    int r = ::waitid(P_PID, static_cast<id_t>(pid), info, WEXITED | WNOHANG | WNOWAIT);
    if (r == 0 && info->si_pid == pid) {
      return true;
    }
    if (r < 0 && errno != EINTR) {
      return false;
    }
    if (Clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// What SKEIN_REMOTE(f) can register: #f of a (qualified, maybe templated)
// function name — "fib", "ns::visit", "sum<int, 2>". A program that is not
// linked with the SDK runs its main instead and prints prose, which this
// rejects, so its output is never mistaken for a list.
bool looks_like_function_name(absl::string_view s) {
  if (s.empty() ||
      !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_' || s[0] == ':')) {
    return false;
  }
  int depth = 0;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':') {
      continue;
    }
    if (c == '<') {
      ++depth;
    } else if (c == '>') {
      if (--depth < 0) {
        return false;
      }
    } else if (depth == 0 || (c != ',' && c != ' ' && c != '*' && c != '&')) {
      return false;
    }
  }
  return depth == 0;
}

void kill_group(pid_t pid) {
  ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

absl::StatusOr<std::vector<std::string>> list_remote_functions(const std::string& binary,
                                                               std::chrono::milliseconds timeout) {
  if (::access(binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(binary, " is not executable here: ", std::strerror(errno)));
  }
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls.
  std::vector<std::string> env_store;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, kListVar, sizeof(kListVar) - 1) != 0 ||
        (*e)[sizeof(kListVar) - 1] != '=') {
      env_store.emplace_back(*e);
    }
  }
  env_store.push_back(absl::StrCat(kListVar, "=1"));
  std::vector<char*> envp;
  for (auto& s : env_store) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);
  std::string path = binary;
  char* argv[] = {path.data(), nullptr};

  int out[2];
  int err[2];  // exec failure: the child writes errno here; closed on exec
  if (::pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  Fd out_r(out[0]), out_w(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  Fd err_r(err[0]), err_w(err[1]);
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) {
    return absl::InternalError(absl::StrCat("open /dev/null: ", std::strerror(errno)));
  }
  Fd null_fd(devnull);

  pid_t pid = ::fork();
  if (pid < 0) {
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(devnull, STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(devnull, STDERR_FILENO);
    ::execve(path.c_str(), argv, envp.data());
    int e = errno;
    (void)!::write(err[1], &e, sizeof(e));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: no window where a kill(-pid) misses
  out_w.reset();
  err_w.reset();

  const auto deadline = Clock::now() + timeout;
  std::string text;
  bool too_big = false;
  bool timed_out = false;
  char buf[16384];
  while (true) {
    pollfd p{out_r.get(), POLLIN, 0};
    int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n == 0) {
      timed_out = true;
      break;
    }
    ssize_t got = ::read(out_r.get(), buf, sizeof(buf));
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      break;  // EOF: the child (and any child holding stdout) closed it
    }
    text.append(buf, static_cast<size_t>(got));
    if (text.size() > kMaxRemoteListBytes) {
      too_big = true;
      break;
    }
  }
  siginfo_t info{};
  bool exited = !timed_out && !too_big && wait_until(pid, deadline, &info);
  kill_group(pid);  // also anything it left behind in its group; reaps it
  if (!exited) {
    if (too_big) {
      return absl::ResourceExhaustedError(
          absl::StrCat(binary, " printed over ", kMaxRemoteListBytes, " bytes with ", kListVar,
                       "=1: not a list of remote functions"));
    }
    return absl::DeadlineExceededError(
        absl::StrCat(binary, " did not list its remote functions within ", timeout.count(), " ms (",
                     kListVar, "=1); is it linked with the Skein SDK?"));
  }
  int exec_errno = 0;
  if (::read(err_r.get(), &exec_errno, sizeof(exec_errno)) == sizeof(exec_errno)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run ", binary, " here: ", std::strerror(exec_errno)));
  }
  if (info.si_code != CLD_EXITED) {
    return absl::UnknownError(absl::StrCat(binary, " was killed by signal ", info.si_status,
                                           " while listing its remote functions"));
  }
  if (info.si_status != 0) {
    return absl::UnknownError(absl::StrCat(binary, " exited with code ", info.si_status,
                                           " while listing its remote functions"));
  }
  std::vector<std::string> names;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.empty()) {
      continue;
    }
    if (line.size() > kMaxNameBytes) {
      return absl::InvalidArgumentError(absl::StrCat(binary, " printed a line of ", line.size(),
                                                     " bytes with ", kListVar,
                                                     "=1: not a list of remote function names"));
    }
    if (!looks_like_function_name(line)) {
      return absl::InvalidArgumentError(
          absl::StrCat(binary, " printed \"", line.substr(0, 60), "\" with ", kListVar,
                       "=1: not a function name (is it linked with the Skein SDK?)"));
    }
    names.emplace_back(line);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

}  // namespace skein::cli
