// server_process.cpp: see server_process.h.
#include "support/server_process.h"

#include "common/counters.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace cb::testing {
namespace {

int count_dir_entries(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n;
}

}  // namespace

ServerProcess::ServerProcess(const ServerOptions& o) {
  std::vector<std::string> args = o.command;
  if (args.empty()) {
    args = {o.binary, "--model", o.model, "--proto", o.proto, "--port", "0"};
    if (!o.root.empty()) {
      args.push_back("--root");
      args.push_back(o.root);
    }
    char stats_template[] = "/tmp/cb-stats-XXXXXX";
    int stats_fd = ::mkstemp(stats_template);
    if (stats_fd < 0) throw std::runtime_error("mkstemp failed");
    ::close(stats_fd);
    stats_path_ = stats_template;
    args.push_back("--stats-file");
    args.push_back(stats_path_);
    args.insert(args.end(), o.extra_args.begin(), o.extra_args.end());
  }
  bool own_group = !o.command.empty();
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    if (own_group) ::setpgid(0, 0);
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    if (o.rlimit_nofile > 0) {
      rlimit rl{static_cast<rlim_t>(o.rlimit_nofile), static_cast<rlim_t>(o.rlimit_nofile)};
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (own_group) {
    ::setpgid(pid_, pid_);  // also here, so the group exists before we go on
    group_ = pid_;
  }
  ::close(pipe_fds[1]);
  out_fd_ = pipe_fds[0];
  // Read until the "listening HOST:PORT" line.
  auto deadline = std::chrono::steady_clock::now() + o.startup_timeout;
  while (!listening::find(output_)) {
    pollfd p{out_fd_, POLLIN, 0};
    if (std::chrono::steady_clock::now() > deadline || ::poll(&p, 1, 100) < 0) break;
    if (!(p.revents & (POLLIN | POLLHUP))) continue;
    char buf[512];
    ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n <= 0) break;
    output_.append(buf, static_cast<std::size_t>(n));
  }
  auto line = listening::find(output_);
  if (!line) {
    stop(std::chrono::milliseconds(1000));
    throw std::runtime_error("server did not start: " + output_);
  }
  line_ = *line;
  port_ = line->port;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) stop(std::chrono::milliseconds(2000));
  end_group();
  if (out_fd_ >= 0) ::close(out_fd_);
  if (!stats_path_.empty()) ::unlink(stats_path_.c_str());
}

nlohmann::json ServerProcess::live_counters() const {
  if (stats_path_.empty()) return nlohmann::json::object();  // a peer keeps none
  return nlohmann::json::parse(CounterReader(stats_path_).to_json());
}

bool ServerProcess::all_connections_closed() const {
  nlohmann::json c = live_counters();
  return c["connections_accepted"] == c["connections_closed"];
}

bool ServerProcess::running() {
  if (pid_ <= 0) return false;
  return ::waitpid(pid_, nullptr, WNOHANG) == 0;
}

void ServerProcess::read_output_until_exit() {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n <= 0) break;
    output_.append(buf, static_cast<std::size_t>(n));
  }
  auto at = output_.find("counters ");
  if (at != std::string::npos) {
    auto end = output_.find('\n', at);
    counters_ = nlohmann::json::parse(output_.substr(at + 9, end - at - 9), nullptr, false);
  }
}

namespace {

// CPU time (user + system, all threads) of a live process, in clock ticks;
// -1 once it is gone.
long cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(paren + 2));
  std::string f;
  long ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i >= 14) ticks += std::stol(f);  // utime, stime
  }
  return ticks;
}

// Under a sanitizer a stop may take longer than `limit` (TSan tracks each of
// 2,000 fibers like a thread, and tearing them down beside other tests on a
// 2-CPU machine is slow), but it must keep moving: past the limit the wait
// goes on in steps only while the server closes connections or burns CPU in
// the step, up to this many times the limit. A hung server (parked, waiting
// on nothing) makes neither kind of progress and is still killed at the
// limit.
#if defined(CB_ASAN) || defined(CB_TSAN)
constexpr int kSanitizerStretch = 6;
#else
constexpr int kSanitizerStretch = 1;
#endif
constexpr std::chrono::seconds kProgressStep{2};

}  // namespace

int ServerProcess::stop(std::chrono::milliseconds limit) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + limit;
  auto hard_limit = start + limit * kSanitizerStretch;
  auto closed = [&] {
    try {
      return live_counters()["connections_closed"].get<uint64_t>();
    } catch (const std::exception&) {
      return uint64_t{0};
    }
  };
  uint64_t closed_at_deadline = closed();
  long ticks_at_deadline = cpu_ticks(pid_);
  pid_t r = 0;
  for (;;) {
    r = ::waitpid(pid_, &status, WNOHANG);
    if (r != 0) break;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      uint64_t closed_now = closed();
      long ticks_now = cpu_ticks(pid_);
      // Progress: connections closed, or a fifth of the step spent on CPU.
      long busy = static_cast<long>(::sysconf(_SC_CLK_TCK)) * kProgressStep.count() / 5;
      bool moving = closed_now > closed_at_deadline || ticks_now - ticks_at_deadline >= busy;
      if (now >= hard_limit || !moving) break;
      std::fprintf(stderr,
                   "server %d still stopping %.1f s after SIGTERM (%llu connections closed, "
                   "%.1f s of CPU in the last step): a sanitizer build, waiting on\n",
                   static_cast<int>(pid_),
                   std::chrono::duration<double>(now - start).count(),
                   static_cast<unsigned long long>(closed_now - closed_at_deadline),
                   static_cast<double>(ticks_now - ticks_at_deadline) /
                       static_cast<double>(::sysconf(_SC_CLK_TCK)));
      closed_at_deadline = closed_now;
      ticks_at_deadline = ticks_now;
      deadline = now + kProgressStep;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  int code = -1;
  if (r == 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  } else if (WIFEXITED(status)) {
    code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    code = 128 + WTERMSIG(status);
  }
  pid_ = -1;
  end_group();
  read_output_until_exit();
  return code;
}

void ServerProcess::end_group() {
  if (group_ <= 0) return;
  auto group_alive = [&] { return ::kill(-group_, 0) == 0; };
  if (!eventually([&] { return !group_alive(); }, std::chrono::milliseconds(3000))) {
    // Count what is left (every process whose group is ours), then kill it.
    int left = 0;
    if (DIR* dir = ::opendir("/proc")) {
      while (dirent* e = ::readdir(dir)) {
        pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
        if (pid > 0 && ::getpgid(pid) == group_) ++left;
      }
      ::closedir(dir);
    }
    group_leftovers_ += std::max(left, 1);
    ::kill(-group_, SIGKILL);
  }
  group_ = -1;
}

long pss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "Pss:") {
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return -1;
}

int ServerProcess::open_fds() const {
  return count_dir_entries("/proc/" + std::to_string(pid_) + "/fd");
}

long ServerProcess::tree_pss_kb() const {
  long total = pss_kb(pid_);
  for (pid_t kid : children()) total += std::max(0L, pss_kb(kid));
  return total;
}

int ServerProcess::tree_open_fds() const {
  int total = open_fds();
  for (pid_t kid : children()) {
    total += std::max(0, count_dir_entries("/proc/" + std::to_string(kid) + "/fd"));
  }
  return total;
}

int ServerProcess::threads() const {
  return count_dir_entries("/proc/" + std::to_string(pid_) + "/task");
}

std::vector<pid_t> ServerProcess::children() const {
  std::vector<pid_t> kids;
  std::string task_dir = "/proc/" + std::to_string(pid_) + "/task";
  DIR* dir = ::opendir(task_dir.c_str());
  if (dir == nullptr) return kids;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(task_dir + "/" + e->d_name + "/children");
    pid_t pid;
    while (in >> pid) kids.push_back(pid);
  }
  ::closedir(dir);
  return kids;
}

}  // namespace cb::testing
