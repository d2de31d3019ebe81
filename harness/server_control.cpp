// server_control.cpp: see server_control.h.
#include "server_control.h"

#include "child_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "common/status.h"
#include "listening_line.h"

namespace cb::harness {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kPollStep{5};
// Reaping what SIGKILL left of a group: bounded, a zombie takes microseconds.
constexpr milliseconds kGroupReapLimit{2'000};
// The probe's send/receive timeout: a server that cannot answer one request
// in this time is not ready.
constexpr int kProbeTimeoutS = 5;
// A server without counters cannot say when it has closed the probe: it
// gets this long (the probe's close is one syscall away when it returns).
constexpr milliseconds kUncountedSettle{200};




std::vector<std::string> server_args(const ServerSpec& s) {
  if (!s.command.empty()) return s.command;
  std::vector<std::string> args = {s.binary, "--model", s.model, "--proto", s.proto, "--host",
                                   s.host, "--port", "0"};
  if (!s.stats_file.empty()) args.insert(args.end(), {"--stats-file", s.stats_file});
  if (s.proto == "http") args.insert(args.end(), {"--root", s.root});
  args.insert(args.end(), s.extra_args.begin(), s.extra_args.end());
  return args;
}

// Blocking connect with send/receive timeouts; invalid Fd on failure.
Fd connect_probe(const std::string& host, uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  timeval tv{kProbeTimeoutS, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return Fd();
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return Fd();
  return fd;
}

bool send_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads until `enough(received)` holds, EOF or timeout.
template <class Enough>
std::string recv_until(int fd, Enough enough) {
  std::string got;
  char buf[1024];
  while (!enough(got)) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find_first_of("\r\n")); }

}  // namespace

bool become_subreaper() { return ::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0; }

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    return fmt::format("killed by SIG{}{}", name ? name : std::to_string(WTERMSIG(status)).c_str(),
                       WCOREDUMP(status) ? " (core dumped)" : "");
  }
  return fmt::format("ended with wait status {:#x}", status);
}

ServerControl::ServerControl(ServerSpec spec) : spec_(std::move(spec)) {}

ServerControl::~ServerControl() {
  if (pid_ > 0) stop();
}

const CounterBlock* ServerControl::counters() const {
  return counters_ ? &counters_->block() : nullptr;
}

std::optional<std::string> ServerControl::start() {
  out_ = make_memfd("server-stdout");
  err_ = make_memfd("server-stderr");
  std::vector<std::string> args = server_args(spec_);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : spec_.cpus) CPU_SET(static_cast<std::size_t>(cpu), &set);
  const cpu_set_t* pin = spec_.cpus.empty() ? nullptr : &set;

  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw SysError("fork(server)", errno);
  if (pid == 0) {
    exec_child(parent, pin, out_.get(), err_.get(), argv.data(),
               "harness: sched_setaffinity failed in the server child\n",
               "harness: cannot exec the server binary\n", spec_.cgroup_procs_fd);
  }
  pid_ = pid;
  ::setpgid(pid_, pid_);  // also in the child: whichever runs first wins the race
  if (auto failed = wait_listening()) {
    stop();
    return failed;
  }
  if (auto failed = probe()) {
    stop();
    return failed;
  }
  return std::nullopt;
}

std::optional<std::string> ServerControl::wait_listening() {
  auto deadline = Clock::now() + spec_.startup_timeout;
  for (;;) {
    if (auto line = listening::find(read_memfd(out_.get()))) {
      host_ = line->host;
      port_ = line->port;
      break;
    }
    if (auto exited = check_exited()) {
      std::string why = last_error_line();
      return fmt::format("startup: {}{}{}", exited->substr(exited->find(' ') + 1),
                         why.empty() ? "" : ": ", why);
    }
    if (Clock::now() > deadline) {
      return fmt::format("startup: no 'listening' line within {} ms", spec_.startup_timeout.count());
    }
    std::this_thread::sleep_for(kPollStep);
  }
  if (spec_.stats_file.empty()) return std::nullopt;
  try {
    counters_ = std::make_unique<CounterReader>(spec_.stats_file);
  } catch (const std::exception& e) {
    return fmt::format("startup: cannot map the server counters: {}", e.what());
  }
  return std::nullopt;
}

std::optional<std::string> ServerControl::probe() {
  Fd fd = connect_probe(host_, port_);
  if (!fd) return fmt::format("startup: probe cannot connect to {}:{}: {}", host_, port_,
                              std::strerror(errno));
  if (spec_.proto == "echo") {
    const std::string ping = "harness-probe\n";
    std::string got;
    if (send_all(fd.get(), ping)) {
      got = recv_until(fd.get(), [&](const std::string& g) { return g.size() >= ping.size(); });
    }
    if (got != ping) return "startup: the echo probe was not echoed back";
    return std::nullopt;
  }
  const std::string request = "HEAD " + spec_.probe_path + " HTTP/1.0\r\n\r\n";
  std::string got;
  if (send_all(fd.get(), request)) {
    got = recv_until(fd.get(), [](const std::string& g) { return g.find("\r\n\r\n") != g.npos; });
  }
  std::string status = first_line(got);
  if (status.rfind("HTTP/1.", 0) != 0 || status.find(" 200") == std::string::npos) {
    return fmt::format("startup: the HTTP probe (HEAD {}) got '{}'", spec_.probe_path, status);
  }
  return std::nullopt;
}

std::optional<std::string> ServerControl::check_exited() {
  std::lock_guard lock(wait_mu_);
  if (pid_ <= 0) return std::string("crash: not running");
  if (!reaped_) {
    int status = 0;
    pid_t r = ::wait4(pid_, &status, WNOHANG, &rusage_);
    if (r == 0) return std::nullopt;
    if (r < 0) return fmt::format("crash: waitpid: {}", std::strerror(errno));
    reaped_ = true;
    exit_status_ = status;
  }
  return "crash: server " + describe_wait_status(exit_status_);
}

bool ServerControl::wait_idle(milliseconds limit) {
  const CounterBlock* c = counters();
  if (c == nullptr) {
    if (pid_ <= 0 || !spec_.stats_file.empty()) return false;
    std::this_thread::sleep_for(std::min(limit, kUncountedSettle));
    return true;
  }
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (c->connections_closed.load() >= c->connections_accepted.load()) {
      // A closed connection's thread or process still has to exit and be
      // reaped; this is a few microseconds of work, give it a moment.
      std::this_thread::sleep_for(milliseconds(20));
      return true;
    }
    std::this_thread::sleep_for(kPollStep);
  }
  return false;
}

std::optional<std::string> ServerControl::stop() {
  if (pid_ <= 0) return std::nullopt;
  std::optional<std::string> result;
  if (auto exited = check_exited()) {
    result = exited;  // it was already gone: whatever killed it is the story
  } else {
    ::kill(pid_, SIGTERM);
    auto deadline = Clock::now() + spec_.stop_grace;
    while (!check_exited() && Clock::now() < deadline) std::this_thread::sleep_for(kPollStep);
    std::lock_guard lock(wait_mu_);
    if (!reaped_) {
      ::kill(-pid_, SIGKILL);
      int status = 0;
      while (::wait4(pid_, &status, 0, &rusage_) < 0 && errno == EINTR) {
      }
      reaped_ = true;
      exit_status_ = status;
      result = fmt::format("hang: server still running {} ms after SIGTERM (SIGKILLed)",
                           spec_.stop_grace.count());
    } else if (WIFSIGNALED(exit_status_)) {
      result = "crash: on SIGTERM the server was " + describe_wait_status(exit_status_);
    } else if (WEXITSTATUS(exit_status_) != 0) {
      result = "exit: on SIGTERM the server " + describe_wait_status(exit_status_);
    }
  }
  kill_group_and_reap();
  pid_ = -1;
  return result;
}

void ServerControl::kill_group_and_reap() {
  // The server's group: its children still alive (a crashed parent leaves
  // them) die now; those re-parented to us (subreaper) are reaped here.
  if (::kill(-pid_, SIGKILL) != 0) return;  // ESRCH: nobody left
  auto deadline = Clock::now() + kGroupReapLimit;
  while (Clock::now() < deadline) {
    pid_t r = ::waitpid(-pid_, nullptr, WNOHANG);
    if (r < 0) return;  // ECHILD: none of them is ours to reap
    if (r == 0) std::this_thread::sleep_for(kPollStep);
  }
}

std::string ServerControl::output() const {
  std::string out = out_ ? read_memfd(out_.get()) : "";
  std::string err = err_ ? read_memfd(err_.get()) : "";
  return out + err;
}

std::string ServerControl::last_error_line() const {
  std::string err = err_ ? read_memfd(err_.get()) : "";
  while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
  std::size_t nl = err.rfind('\n');
  return nl == std::string::npos ? err : err.substr(nl + 1);
}

}  // namespace cb::harness
