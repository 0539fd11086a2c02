#include "cluster_fixture.hpp"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "skein/common/auth.hpp"
#include "skein/common/status.hpp"
#include "skein/common/token.hpp"

namespace skein::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<char*> c_argv(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) {
    out.push_back(s.data());
  }
  out.push_back(nullptr);
  return out;
}

std::string tail(const std::string& path, int n) {
  std::ifstream f(path);
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(f, line)) {
    lines.push_back(line);
    if (static_cast<int>(lines.size()) > n) {
      lines.pop_front();
    }
  }
  std::string out;
  for (const auto& l : lines) {
    out += "    " + l + "\n";
  }
  return out;
}

}  // namespace

std::string env_or_die(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    std::fprintf(stderr, "environment variable %s is not set (run through ctest)\n", name);
    std::abort();
  }
  return v;
}

std::string build_path(const std::string& relative) {
  return env_or_die("SKEIN_TEST_BUILD_DIR") + "/" + relative;
}

std::string make_temp_dir(const std::string& prefix) {
  // Short paths: the agent's Unix socket path must stay under 108 bytes.
  std::string tmpl = "/tmp/" + prefix + "XXXXXX";
  char* d = ::mkdtemp(tmpl.data());
  return d != nullptr ? std::string(d) : std::string();
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::int64_t proc_status_bytes(pid_t pid, const std::string& field) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream in(line.substr(field.size() + 1));
      std::int64_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

bool process_alive(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string all;
  if (!std::getline(f, all)) {
    return false;
  }
  const auto close = all.rfind(')');
  if (close == std::string::npos || close + 2 >= all.size()) {
    return false;
  }
  const char state = all[close + 2];
  return state != 'Z' && state != 'X';
}

// --- Child -------------------------------------------------------------------

Child::~Child() { kill9(); }

Child::Child(Child&& o) noexcept : pid_(o.pid_), reaped_(o.reaped_), status_(o.status_) {
  o.pid_ = 0;
}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    kill9();
    pid_ = o.pid_;
    reaped_ = o.reaped_;
    status_ = o.status_;
    o.pid_ = 0;
  }
  return *this;
}

absl::StatusOr<Child> Child::spawn(const std::vector<std::string>& argv_in,
                                   const std::string& log_file) {
  std::vector<std::string> argv = argv_in;
  auto av = c_argv(argv);
  const int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0) {
    return absl::InternalError(absl::StrCat("open ", log_file, ": ", std::strerror(errno)));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test leaves no daemon behind
    if (::getppid() != parent) {
      ::_exit(127);
    }
    ::setpgid(0, 0);
    const int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::close_range(3, ~0U, 0);
    ::execv(av[0], av.data());
    ::_exit(127);
  }
  ::close(log);
  Child c;
  c.pid_ = pid;
  return c;
}

bool Child::alive() {
  if (pid_ <= 0 || reaped_) {
    return false;
  }
  if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

int Child::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) {
    return 0;
  }
  if (!reaped_) {
    ::kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + grace;
    while (Clock::now() < deadline && alive()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
    }
  }
  pid_ = 0;
  return status_;
}

void Child::kill9() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  pid_ = 0;
}

// --- run_command ---------------------------------------------------------------

CliResult run_command(const std::vector<std::string>& argv_in, std::chrono::milliseconds timeout) {
  CliResult r;
  std::vector<std::string> argv = argv_in;
  auto av = c_argv(argv);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    r.err = "pipe failed";
    return r;
  }
  const auto began = Clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::setpgid(0, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execv(av[0], av.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open = 2;
  bool killed = false;
  char buf[65536];
  while (open > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(began + timeout - Clock::now());
    if (left.count() <= 0) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    const int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        const ssize_t got = ::read(fds[i].fd, buf, sizeof(buf));
        if (got <= 0) {
          ::close(fds[i].fd);
          fds[i].fd = -1;
          --open;
        } else {
          (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(got));
        }
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) {
      ::close(f.fd);
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - began);
  if (killed) {
    r.exit_code = -1;
  } else if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else {
    r.exit_code = 128 + WTERMSIG(status);
  }
  return r;
}

// --- Cluster -------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::start(Options options) {
  std::unique_ptr<Cluster> c(new Cluster());
  c->options_ = options;
  c->coordinator_bin_ = build_path("coordinator/skein-coordinator");
  c->node_bin_ = build_path("node/skein-node");
  c->cli_bin_ = build_path("cli/skein");
  c->job_binary_ = build_path("tests/integration/skein_test_job");
  c->dir_ = make_temp_dir("skit");
  if (c->dir_.empty()) {
    return absl::InternalError("mkdtemp failed");
  }
  c->token_file_ = c->dir_ + "/token";
  auto token = generate_token();
  if (!token.ok()) {
    return token.status();
  }
  if (absl::Status s = write_token_file(c->token_file_, *token); !s.ok()) {
    return s;
  }
  if (absl::Status s = c->start_coordinator("127.0.0.1:0"); !s.ok()) {
    return s;
  }
  for (int i = 1; i <= options.nodes; ++i) {
    if (absl::Status s = c->start_node(absl::StrCat("node-", i)); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = c->wait_nodes(options.nodes, options.ready_timeout); !s.ok()) {
    return s;
  }
  return c;
}

Cluster::~Cluster() {
  for (auto& [name, child] : nodes_) {
    child.stop(std::chrono::milliseconds(3000));
  }
  coordinator_.stop(std::chrono::milliseconds(3000));
  if (!dir_.empty() && std::getenv("SKEIN_TEST_KEEP") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

absl::Status Cluster::start_coordinator(const std::string& listen) {
  const std::string ready = dir_ + "/coordinator.addr";
  std::error_code ec;
  std::filesystem::remove(ready, ec);
  auto child = Child::spawn(
      {coordinator_bin_, "--listen", listen, "--data-dir", dir_ + "/coordinator", "--token-file",
       token_file_, "--ready-file", ready, "--heartbeat-ms", std::to_string(options_.heartbeat_ms),
       "--miss-limit", std::to_string(options_.miss_limit)},
      dir_ + "/coordinator.log");
  if (!child.ok()) {
    return child.status();
  }
  coordinator_ = std::move(*child);
  const auto deadline = Clock::now() + options_.ready_timeout;
  while (Clock::now() < deadline) {
    std::ifstream f(ready);
    std::string addr;
    if (f >> addr && !addr.empty()) {
      address_ = addr;
      return absl::OkStatus();
    }
    if (!coordinator_.alive()) {
      return absl::UnavailableError(
          absl::StrCat("skein-coordinator exited:\n", log_tail("coordinator")));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("skein-coordinator not ready:\n", log_tail("coordinator")));
}

absl::Status Cluster::start_node(const std::string& name) {
  auto child = Child::spawn({node_bin_, "--coordinator", address_, "--token-file", token_file_,
                             "--work-dir", dir_ + "/" + name, "--node-name", name},
                            dir_ + "/" + name + ".log");
  if (!child.ok()) {
    return child.status();
  }
  nodes_[name] = std::move(*child);
  return absl::OkStatus();
}

std::string Cluster::log_tail(const std::string& name) {
  return tail(dir_ + "/" + name + ".log", 15);
}

CliResult Cluster::cli(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {cli_bin_, "--coordinator", address_, "--token-file",
                                   token_file_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, timeout);
}

std::unique_ptr<skein::v1::Coordinator::Stub> Cluster::stub() {
  AuthConfig auth;
  auth.token = *load_token(token_file_);
  auto channel = make_channel(address_, auth);
  return skein::v1::Coordinator::NewStub(*channel);
}

absl::StatusOr<skein::v1::JobInfo> Cluster::get_job(std::uint64_t job_id) {
  auto s = stub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  skein::v1::GetJobRequest req;
  req.set_job_id(job_id);
  skein::v1::GetJobResponse resp;
  absl::Status st = from_grpc(s->GetJob(&ctx, req, &resp));
  if (!st.ok()) {
    return st;
  }
  return resp.job();
}

absl::StatusOr<skein::v1::JobInfo> Cluster::wait_terminal(std::uint64_t job_id,
                                                          std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    auto job = get_job(job_id);
    if (job.ok() && job->state() != skein::v1::JOB_STATE_PENDING &&
        job->state() != skein::v1::JOB_STATE_RUNNING) {
      return job;
    }
    if (Clock::now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("job ", job_id, " not terminal after ", timeout.count(), " ms",
                       job.ok() ? absl::StrCat(" (", skein::v1::JobState_Name(job->state()), ")")
                                : absl::StrCat(": ", job.status().ToString())));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string result_line(const std::string& out) {
  const auto pos = out.find("RESULT ");
  if (pos == std::string::npos) {
    return "";
  }
  return out.substr(pos, out.find('\n', pos) - pos);
}

std::vector<std::string> Cluster::alive_node_ids() {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  skein::v1::ListNodesResponse resp;
  std::vector<std::string> ids;
  if (!stub()->ListNodes(&ctx, {}, &resp).ok()) {
    return ids;
  }
  for (const auto& n : resp.nodes()) {
    if (n.state() == skein::v1::NODE_STATE_ALIVE) {
      ids.push_back(n.node_id());
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

absl::Status Cluster::wait_nodes(int n, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto s = stub();
  int alive = 0;
  while (Clock::now() < deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    // Alive and connected: a heartbeat arrived on the node's stream, so the
    // coordinator can place work there (registered alone is not enough).
    skein::v1::GetStatsResponse resp;
    if (s->GetStats(&ctx, {}, &resp).ok()) {
      alive = 0;
      for (const auto& ns : resp.nodes()) {
        alive += ns.node().state() == skein::v1::NODE_STATE_ALIVE && ns.sampled_unix_ms() > 0;
      }
      if (alive >= n) {
        return absl::OkStatus();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string logs;
  for (const auto& [name, child] : nodes_) {
    absl::StrAppend(&logs, name, ":\n", log_tail(name));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "only ", alive, " of ", n, " nodes alive; coordinator:\n", log_tail("coordinator"), logs));
}

pid_t Cluster::node_pid(const std::string& name) {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? 0 : it->second.pid();
}

void Cluster::kill_agent(const std::string& name) {
  auto it = nodes_.find(name);
  if (it != nodes_.end()) {
    it->second.kill9();
  }
}

absl::StatusOr<std::string> Cluster::agent_name_of_node_id(const std::string& node_id) {
  auto s = stub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  skein::v1::ListNodesRequest req;
  req.set_include_dead(true);
  skein::v1::ListNodesResponse resp;
  absl::Status st = from_grpc(s->ListNodes(&ctx, req, &resp));
  if (!st.ok()) {
    return st;
  }
  for (const auto& n : resp.nodes()) {
    if (n.node_id() == node_id) {
      return n.hostname();
    }
  }
  return absl::NotFoundError(absl::StrCat("no node ", node_id));
}

absl::StatusOr<pid_t> Cluster::agent_pid_of_node_id(const std::string& node_id) {
  absl::StatusOr<std::string> name = agent_name_of_node_id(node_id);
  if (!name.ok()) {
    return name.status();
  }
  const pid_t pid = node_pid(*name);
  if (pid <= 0) {
    return absl::NotFoundError(absl::StrCat("no agent for node ", node_id));
  }
  return pid;
}

std::vector<pid_t> Cluster::agent_pids() {
  std::vector<pid_t> out;
  for (auto& [name, child] : nodes_) {
    out.push_back(child.pid());
  }
  return out;
}

absl::Status Cluster::restart_coordinator() {
  const std::string listen = address_;  // same port: the agents know this address
  coordinator_.kill9();
  return start_coordinator(listen);
}

}  // namespace skein::testing
