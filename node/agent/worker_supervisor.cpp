#include "agent/worker_supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "agent/orphan_reaper.hpp"

namespace skein::node {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr int kMaxEvents = 64;
constexpr const char* kCgroupRoot = "/sys/fs/cgroup";

// epoll tags: low 2 bits = what, the rest = worker serial.
enum Kind : std::uint64_t { kWake = 0, kPidfd = 1, kStdout = 2, kStderr = 3 };
std::uint64_t tag(std::uint64_t serial, Kind k) { return (serial << 2) | k; }

absl::Status errno_status(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Async-signal-safe helpers for the child between fork and exec: no malloc,
// no locks, no stdio.
void child_write_all(int fd, const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t r = ::write(fd, c, n);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      return;
    }
    c += r;
    n -= static_cast<std::size_t>(r);
  }
}

[[noreturn]] void child_fail(int report_fd, int stage) {
  int payload[2] = {stage, errno};
  child_write_all(report_fd, payload, sizeof(payload));
  ::_exit(127);
}

std::size_t child_utoa(unsigned long v, char* out) {
  char tmp[24];
  std::size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = tmp[n - 1 - i];
  }
  return n;
}

const char* stage_name(int stage) {
  switch (stage) {
    case 1:
      return "setsid";
    case 2:
      return "prctl";
    case 3:
      return "cgroup";
    case 4:
      return "dup2";
    case 5:
      return "chdir";
    case 6:
      return "setrlimit";
    case 7:
      return "execveat";
    default:
      return "child setup";
  }
}

bool set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

// A per-job cgroup v1 directory in one controller ("memory" or "pids").
struct Cgroup {
  std::filesystem::path dir;
  UniqueFd procs;  // cgroup.procs, written by the child before exec
};

std::optional<Cgroup> make_cgroup(const std::string& controller, const std::string& group,
                                  const std::string& leaf, const std::string& limit_file,
                                  std::uint64_t limit) {
  std::error_code ec;
  const std::filesystem::path base = std::filesystem::path(kCgroupRoot) / controller;
  if (!std::filesystem::is_directory(base, ec) || ::access(base.c_str(), W_OK) != 0) {
    return std::nullopt;  // not available or not writable: rlimits only
  }
  const std::filesystem::path dir = base / group / leaf;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return std::nullopt;
  }
  {
    std::ofstream f(dir / limit_file);
    f << limit;
    f.flush();
    if (!f) {
      std::filesystem::remove(dir, ec);
      return std::nullopt;
    }
  }
  int fd = ::open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    std::filesystem::remove(dir, ec);
    return std::nullopt;
  }
  return Cgroup{dir, UniqueFd(fd)};
}

// A job's cgroup also holds what escaped its process group (setsid daemons):
// everything still in it is killed before the directory is removed. rmdir
// fails while tasks remain (the kernel's rule), so it is retried briefly while
// the killed processes exit.
void kill_cgroup_members(const std::filesystem::path& dir) {
  std::ifstream procs(dir / "cgroup.procs");
  pid_t pid = 0;
  while (procs >> pid) {
    if (pid > 1) {
      ::kill(pid, SIGKILL);
    }
  }
}

void remove_cgroups(const std::vector<std::filesystem::path>& dirs) {
  constexpr int kAttempts = 50;
  for (const auto& dir : dirs) {
    kill_cgroup_members(dir);
    for (int i = 0; i < kAttempts; ++i) {
      if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
}

// Per-job cgroups are named job-<job>-<agent pid>-<serial>. Those of an agent
// that no longer runs (killed before it could clean up) are removed if empty.
void remove_stale_cgroups(const std::string& group) {
  for (const char* controller : {"memory", "pids"}) {
    std::error_code ec;
    const auto base = std::filesystem::path(kCgroupRoot) / controller / group;
    for (const auto& e : std::filesystem::directory_iterator(base, ec)) {
      const std::string name = e.path().filename().string();
      if (!name.starts_with("job-") || !e.is_directory()) {
        continue;
      }
      const auto last = name.rfind('-');
      const auto mid = name.rfind('-', last - 1);
      const pid_t agent =
          static_cast<pid_t>(std::atol(name.substr(mid + 1, last - mid - 1).c_str()));
      if (agent > 0 && agent != ::getpid() && ::kill(agent, 0) != 0 && errno == ESRCH) {
        kill_cgroup_members(e.path());
        ::rmdir(e.path().c_str());
      }
    }
  }
}

}  // namespace

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) {
    return absl::StrCat("exited with code ", WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::sigdescr_np(sig);
    return absl::StrCat("killed by signal ", sig, " (", name != nullptr ? name : "unknown", ")");
  }
  return absl::StrCat("ended with wait status ", status);
}

struct WorkerSupervisor::Impl {
  struct Worker {
    std::uint64_t serial = 0;
    std::string job_id;
    pid_t pid = 0;
    UniqueFd pidfd;
    UniqueFd out;
    UniqueFd err;
    bool paused = false;
    bool reaped = false;
    int wait_status = 0;
    bool cancelled = false;
    std::optional<Clock::time_point> kill_at;   // SIGKILL deadline after SIGTERM
    std::optional<Clock::time_point> drain_by;  // pipes must be at EOF by then
    std::vector<std::filesystem::path> cgroups;
  };

  struct LaunchCmd {
    LaunchSpec spec;
    std::promise<absl::StatusOr<pid_t>> result;
  };
  struct CancelCmd {
    std::string job_id;
    pid_t pid = 0;  // > 0: only this worker, whatever job_id says
    std::chrono::milliseconds grace;
    std::promise<absl::Status> result;
  };

  SupervisorOptions options;
  OutputSink* sink;
  UniqueFd epoll;
  UniqueFd wake;
  std::thread thread;

  std::mutex mu;  // guards the command queues, stop and the pid snapshot
  std::deque<LaunchCmd> launches;
  std::deque<CancelCmd> cancels;
  bool stop = false;
  std::multimap<std::string, pid_t> pid_snapshot;

  // Owned by the supervisor thread.
  std::uint64_t next_serial = 1;
  std::map<std::uint64_t, Worker> workers;
  std::string read_buf;

  Impl(SupervisorOptions o, OutputSink* s) : options(std::move(o)), sink(s) {
    remove_stale_cgroups(options.cgroup_name);
    epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
    wake.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag(0, kWake);
    ::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &ev);
    read_buf.resize(kReadChunk);
    thread = std::thread([this] { loop(); });
  }

  void notify() {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(wake.get(), &one, sizeof(one));
  }

  void publish_pids() {
    std::lock_guard<std::mutex> lock(mu);
    pid_snapshot.clear();
    for (const auto& [serial, w] : workers) {
      if (!w.reaped) {
        pid_snapshot.emplace(w.job_id, w.pid);
      }
    }
  }

  void watch(int fd, std::uint64_t t, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = t;
    ::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &ev);
  }

  absl::StatusOr<pid_t> do_launch(LaunchSpec& spec) {
    if (!spec.exe.valid()) {
      return absl::InvalidArgumentError("launch without a verified binary descriptor");
    }
    if (spec.argv.empty()) {
      return absl::InvalidArgumentError("launch with an empty argv");
    }
    // Everything the child needs is prepared here, before fork: after fork in a
    // multi-threaded process only async-signal-safe calls are allowed.
    std::vector<char*> argv;
    for (auto& a : spec.argv) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& e : spec.env) {
      envp.push_back(e.data());
    }
    envp.push_back(nullptr);

    int out_pipe[2];
    int err_pipe[2];
    int report_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
      return errno_status("pipe");
    }
    UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
      return errno_status("pipe");
    }
    UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);
    if (::pipe2(report_pipe, O_CLOEXEC) != 0) {
      return errno_status("pipe");
    }
    UniqueFd report_r(report_pipe[0]), report_w(report_pipe[1]);
    UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull) {
      return errno_status("open /dev/null");
    }

    const std::string leaf = absl::StrCat("job-", spec.job_id, "-", ::getpid(), "-", next_serial);
    std::vector<Cgroup> cgroups;
    if (spec.limits.memory_bytes > 0) {
      if (auto cg = make_cgroup("memory", options.cgroup_name, leaf, "memory.limit_in_bytes",
                                spec.limits.memory_bytes)) {
        cgroups.push_back(std::move(*cg));
      }
    }
    if (spec.limits.max_pids > 0) {
      if (auto cg =
              make_cgroup("pids", options.cgroup_name, leaf, "pids.max", spec.limits.max_pids)) {
        cgroups.push_back(std::move(*cg));
      }
    }
    int cgroup_fds[2] = {-1, -1};
    for (std::size_t i = 0; i < cgroups.size() && i < 2; ++i) {
      cgroup_fds[i] = cgroups[i].procs.get();
    }

    struct rlimit core {
      0, 0
    };
    struct rlimit nofile {
      spec.limits.max_open_files, spec.limits.max_open_files
    };
    struct rlimit fsize {
      spec.limits.max_file_size_bytes, spec.limits.max_file_size_bytes
    };
    // The hard CPU limit sits a little above the soft one: SIGXCPU first (a
    // chance to exit cleanly), then the kernel's SIGKILL.
    constexpr rlim_t kCpuHardSlackSeconds = 5;
    struct rlimit cpu {
      spec.limits.cpu_seconds, spec.limits.cpu_seconds + kCpuHardSlackSeconds
    };
    const bool limit_cpu = spec.limits.cpu_seconds > 0;
    const pid_t parent = ::getpid();
    const int exe_fd = spec.exe.get();
    const char* cwd = spec.cwd.c_str();
    constexpr int kExeFdInChild = 3;
    constexpr int kReportFdInChild = 4;
    constexpr int kFirstFdToClose = 5;

    const pid_t pid = ::fork();
    if (pid < 0) {
      return errno_status("fork");
    }
    if (pid == 0) {
      // Child. Order matters: report fd and exe fd are moved to fixed numbers
      // above stdio so close_range can drop everything else.
      const int rfd = report_w.get();
      if (::setsid() < 0) {
        child_fail(rfd, 1);
      }
      if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 ||
          ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        child_fail(rfd, 2);
      }
      if (::getppid() != parent) {
        ::_exit(127);  // the agent died between fork and prctl
      }
      for (int cfd : cgroup_fds) {
        if (cfd >= 0) {
          char num[24];
          const std::size_t n = child_utoa(static_cast<unsigned long>(::getpid()), num);
          if (::write(cfd, num, n) < 0) {
            child_fail(rfd, 3);
          }
        }
      }
      if (::dup2(devnull.get(), 0) < 0 || ::dup2(out_w.get(), 1) < 0 ||
          ::dup2(err_w.get(), 2) < 0) {
        child_fail(rfd, 4);
      }
      if (::dup3(rfd, kReportFdInChild, O_CLOEXEC) < 0) {
        child_fail(rfd, 4);
      }
      if (::dup3(exe_fd, kExeFdInChild, O_CLOEXEC) < 0) {
        child_fail(kReportFdInChild, 4);
      }
      ::close_range(kFirstFdToClose, ~0U, 0);
      if (::chdir(cwd) != 0) {
        child_fail(kReportFdInChild, 5);
      }
      if (::setrlimit(RLIMIT_CORE, &core) != 0 || ::setrlimit(RLIMIT_NOFILE, &nofile) != 0 ||
          ::setrlimit(RLIMIT_FSIZE, &fsize) != 0 ||
          (limit_cpu && ::setrlimit(RLIMIT_CPU, &cpu) != 0)) {
        child_fail(kReportFdInChild, 6);
      }
      // Ignored signals and the blocked mask survive exec; the worker gets a
      // clean slate whatever the agent had set up.
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      for (int sig = 1; sig < NSIG; ++sig) {
        ::sigaction(sig, &dfl, nullptr);
      }
      sigset_t none;
      ::sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::syscall(SYS_execveat, kExeFdInChild, "", argv.data(), envp.data(), AT_EMPTY_PATH);
      child_fail(kReportFdInChild, 7);
    }

    // Parent. The pid is published before exec is confirmed: the program
    // can connect to the worker socket the moment exec succeeds, possibly
    // before this thread reads the report, and its hello is validated
    // against these pids. (Until exec it runs only our code.)
    {
      std::lock_guard<std::mutex> lock(mu);
      pid_snapshot.emplace(spec.job_id, pid);
    }
    out_w.reset();
    err_w.reset();
    report_w.reset();
    int report[2] = {0, 0};
    std::size_t got = 0;
    while (got < sizeof(report)) {
      ssize_t r =
          ::read(report_r.get(), reinterpret_cast<char*>(report) + got, sizeof(report) - got);
      if (r < 0 && errno == EINTR) {
        continue;
      }
      if (r <= 0) {
        break;
      }
      got += static_cast<std::size_t>(r);
    }
    if (got > 0) {
      // Exec failed: the child has exited (or is about to); reap it here.
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      publish_pids();  // drops the pid published at fork
      for (auto& cg : cgroups) {
        std::error_code ec;
        std::filesystem::remove(cg.dir, ec);
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "worker failed to start: ", stage_name(report[0]), ": ", std::strerror(report[1])));
    }

    Worker w;
    w.serial = next_serial++;
    w.job_id = spec.job_id;
    w.pid = pid;
    w.pidfd.reset(pidfd_open(pid));
    w.out = std::move(out_r);
    w.err = std::move(err_r);
    for (auto& cg : cgroups) {
      w.cgroups.push_back(cg.dir);
    }
    set_nonblocking(w.out.get());
    set_nonblocking(w.err.get());
    watch(w.out.get(), tag(w.serial, kStdout), EPOLLIN);
    watch(w.err.get(), tag(w.serial, kStderr), EPOLLIN);
    if (w.pidfd) {
      watch(w.pidfd.get(), tag(w.serial, kPidfd), EPOLLIN);
    }
    workers.emplace(w.serial, std::move(w));
    if (!options.records_dir.empty()) {
      record_worker(options.records_dir, pid);
    }
    publish_pids();
    if (spec.on_started) {
      spec.on_started(pid);
    }
    return pid;
  }

  absl::Status do_cancel(const std::string& job_id, pid_t pid, std::chrono::milliseconds grace) {
    bool found = false;
    for (auto& [serial, w] : workers) {
      if ((pid > 0 ? w.pid != pid : w.job_id != job_id) || w.reaped) {
        continue;
      }
      found = true;
      if (!w.cancelled) {
        w.cancelled = true;
        ::kill(-w.pid, SIGTERM);
        w.kill_at = Clock::now() + (grace.count() > 0 ? grace : options.cancel_grace);
      }
    }
    if (!found) {
      return absl::NotFoundError(pid > 0 ? absl::StrCat("no running worker with pid ", pid)
                                         : absl::StrCat("no running worker for job ", job_id));
    }
    return absl::OkStatus();
  }

  void close_pipe(Worker& /*w*/, UniqueFd& fd) {
    if (fd) {
      ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd.get(), nullptr);
      fd.reset();
    }
  }

  // Reads what is available from one pipe, at most a few chunks so one noisy
  // worker cannot starve the loop.
  void pump(Worker& w, UniqueFd& fd, OutputStream stream) {
    constexpr int kChunksPerWakeup = 4;
    for (int i = 0; i < kChunksPerWakeup && fd; ++i) {
      if (!sink->ready(w.job_id)) {
        pause(w);
        return;
      }
      ssize_t r = ::read(fd.get(), read_buf.data(), read_buf.size());
      if (r > 0) {
        sink->output(w.job_id, w.pid, stream,
                     std::string_view(read_buf.data(), static_cast<std::size_t>(r)));
        continue;
      }
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
      }
      close_pipe(w, fd);  // EOF or error
    }
  }

  void set_pipe_events(Worker& w, std::uint32_t events) {
    for (auto [fd, kind] : {std::pair{w.out.get(), kStdout}, std::pair{w.err.get(), kStderr}}) {
      if (fd >= 0) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = tag(w.serial, kind);
        ::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, fd, &ev);
      }
    }
  }

  void pause(Worker& w) {
    if (!w.paused) {
      w.paused = true;
      set_pipe_events(w, 0);
    }
  }

  void resume_ready() {
    for (auto& [serial, w] : workers) {
      if (w.paused && sink->ready(w.job_id)) {
        w.paused = false;
        set_pipe_events(w, EPOLLIN);
      }
    }
  }

  void reap(Worker& w) {
    int status = 0;
    pid_t r = ::waitpid(w.pid, &status, WNOHANG);
    if (r != w.pid) {
      return;
    }
    w.reaped = true;
    w.wait_status = status;
    w.kill_at.reset();
    if (!options.records_dir.empty()) {
      forget_worker(options.records_dir, w.pid);
    }
    if (w.pidfd) {
      ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, w.pidfd.get(), nullptr);
      w.pidfd.reset();
    }
    // The job is over when its process is: helpers it left behind in its
    // process group go too, which also releases the pipes they hold.
    ::kill(-w.pid, SIGKILL);
    w.drain_by = Clock::now() + options.drain_timeout;
    publish_pids();
  }

  bool finish_if_done(Worker& w, Clock::time_point now) {
    if (!w.reaped) {
      return false;
    }
    const bool drained = !w.out && !w.err;
    if (!drained && now < *w.drain_by) {
      return false;
    }
    if (!drained && w.paused) {
      // Output still queued behind backpressure: keep draining while the sink
      // makes progress, but never past twice the drain timeout.
      if (now < *w.drain_by + options.drain_timeout) {
        return false;
      }
    }
    close_pipe(w, w.out);
    close_pipe(w, w.err);
    remove_cgroups(w.cgroups);
    WorkerExit e;
    e.job_id = w.job_id;
    e.pid = w.pid;
    e.cancelled = w.cancelled;
    if (WIFEXITED(w.wait_status)) {
      e.exit_code = WEXITSTATUS(w.wait_status);
    } else if (WIFSIGNALED(w.wait_status)) {
      e.term_signal = WTERMSIG(w.wait_status);
    }
    e.message = w.cancelled ? absl::StrCat("cancelled (", describe_wait_status(w.wait_status), ")")
                            : describe_wait_status(w.wait_status);
    sink->exited(e);
    return true;
  }

  int next_timeout_ms(Clock::time_point now) {
    std::optional<Clock::time_point> next;
    bool any_paused = false;
    for (auto& [serial, w] : workers) {
      for (const auto& t : {w.kill_at, w.drain_by}) {
        if (t && (!next || *t < *next)) {
          next = t;
        }
      }
      any_paused = any_paused || w.paused;
    }
    if (any_paused) {
      auto t = now + kPausedPollInterval;
      if (!next || t < *next) {
        next = t;
      }
    }
    if (!next) {
      return -1;
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*next - now).count();
    return static_cast<int>(std::max<long long>(ms + 1, 0));
  }

  void run_commands() {
    std::deque<LaunchCmd> l;
    std::deque<CancelCmd> c;
    {
      std::lock_guard<std::mutex> lock(mu);
      l.swap(launches);
      c.swap(cancels);
    }
    for (auto& cmd : l) {
      cmd.result.set_value(do_launch(cmd.spec));
    }
    for (auto& cmd : c) {
      cmd.result.set_value(do_cancel(cmd.job_id, cmd.pid, cmd.grace));
    }
  }

  void loop() {
    epoll_event events[kMaxEvents];
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stop) {
          break;
        }
      }
      const int n = ::epoll_wait(epoll.get(), events, kMaxEvents, next_timeout_ms(Clock::now()));
      for (int i = 0; i < n; ++i) {
        const std::uint64_t t = events[i].data.u64;
        const auto kind = static_cast<Kind>(t & 3);
        if (kind == kWake) {
          std::uint64_t v;
          [[maybe_unused]] ssize_t r = ::read(wake.get(), &v, sizeof(v));
          continue;
        }
        auto it = workers.find(t >> 2);
        if (it == workers.end()) {
          continue;
        }
        Worker& w = it->second;
        if (kind == kPidfd) {
          reap(w);
        } else if (kind == kStdout) {
          pump(w, w.out, OutputStream::kStdout);
        } else {
          pump(w, w.err, OutputStream::kStderr);
        }
      }
      run_commands();
      resume_ready();
      const auto now = Clock::now();
      for (auto it = workers.begin(); it != workers.end();) {
        Worker& w = it->second;
        if (!w.reaped && !w.pidfd) {
          reap(w);  // no pidfd (very old kernel): poll
        }
        if (w.kill_at && !w.reaped && now >= *w.kill_at) {
          ::kill(-w.pid, SIGKILL);
          w.kill_at.reset();
        }
        if (w.reaped && w.paused) {
          // Drain as fast as the sink allows once the process is gone.
          if (sink->ready(w.job_id)) {
            w.paused = false;
            set_pipe_events(w, EPOLLIN);
          }
        }
        if (finish_if_done(w, now)) {
          it = workers.erase(it);
        } else {
          ++it;
        }
      }
    }
    // Shutdown: no worker outlives the supervisor.
    for (auto& [serial, w] : workers) {
      if (!w.reaped) {
        ::kill(-w.pid, SIGKILL);
        int status;
        while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (!options.records_dir.empty()) {
          forget_worker(options.records_dir, w.pid);
        }
      }
      remove_cgroups(w.cgroups);
    }
    workers.clear();
    publish_pids();
    std::deque<LaunchCmd> l;
    std::deque<CancelCmd> c;
    {
      std::lock_guard<std::mutex> lock(mu);
      l.swap(launches);
      c.swap(cancels);
    }
    for (auto& cmd : l) {
      cmd.result.set_value(absl::CancelledError("supervisor is shutting down"));
    }
    for (auto& cmd : c) {
      cmd.result.set_value(absl::CancelledError("supervisor is shutting down"));
    }
  }
};

WorkerSupervisor::WorkerSupervisor(SupervisorOptions options, OutputSink* sink)
    : impl_(std::make_unique<Impl>(std::move(options), sink)) {}

WorkerSupervisor::~WorkerSupervisor() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->notify();
  impl_->thread.join();
}

absl::StatusOr<pid_t> WorkerSupervisor::launch(LaunchSpec spec) {
  std::future<absl::StatusOr<pid_t>> f;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stop) {
      return absl::CancelledError("supervisor is shutting down");
    }
    impl_->launches.push_back(Impl::LaunchCmd{std::move(spec), {}});
    f = impl_->launches.back().result.get_future();
  }
  impl_->notify();
  return f.get();
}

absl::Status WorkerSupervisor::cancel(const std::string& job_id, std::chrono::milliseconds grace) {
  std::future<absl::Status> f;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stop) {
      return absl::CancelledError("supervisor is shutting down");
    }
    impl_->cancels.push_back(Impl::CancelCmd{job_id, 0, grace, {}});
    f = impl_->cancels.back().result.get_future();
  }
  impl_->notify();
  return f.get();
}

void WorkerSupervisor::stop_worker(pid_t pid, std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stop || pid <= 0) {
      return;  // at shutdown every worker is killed anyway
    }
    impl_->cancels.push_back(Impl::CancelCmd{"", pid, grace, {}});  // nobody waits for it
  }
  impl_->notify();
}

std::vector<pid_t> WorkerSupervisor::pids_of(const std::string& job_id) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<pid_t> out;
  auto [b, e] = impl_->pid_snapshot.equal_range(job_id);
  for (auto it = b; it != e; ++it) {
    out.push_back(it->second);
  }
  return out;
}

std::size_t WorkerSupervisor::running() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->pid_snapshot.size();
}

}  // namespace skein::node
