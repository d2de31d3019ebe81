// context.cpp: see context.h.
#include "context.h"

#include <arpa/inet.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "common/fd.h"
#include "fiber/context.h"
#include "fiber/stack.h"
#include "procfs.h"

#ifndef CB_BUILD_COMPILER
#define CB_BUILD_COMPILER "unknown"
#define CB_BUILD_FLAGS ""
#define CB_BUILD_TYPE ""
#define CB_BUILD_SANITIZE ""
#define CB_SOURCE_DIR "."
#endif

namespace cb::harness {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Each figure is the median of kBatches batches, so one preempted batch
// cannot skew it. A batch runs chunks of iterations until kBatchTime has
// passed, so a slow or busy machine costs time, not the result.
constexpr int kBatches = 5;
constexpr std::chrono::milliseconds kBatchTime{40};

// body(n) runs n iterations; returns the median nanoseconds per iteration.
template <class Body>
double median_batch_ns(int chunk, Body&& body) {
  body(chunk);  // warm-up: caches, page faults, the partner thread's start
  std::vector<double> per_iteration;
  for (int b = 0; b < kBatches; ++b) {
    long done = 0;
    auto t0 = Clock::now();
    auto t1 = t0;
    while (t1 - t0 < kBatchTime) {
      body(chunk);
      done += chunk;
      t1 = Clock::now();
    }
    per_iteration.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() /
                            static_cast<double>(done));
  }
  std::sort(per_iteration.begin(), per_iteration.end());
  return per_iteration[per_iteration.size() / 2];
}

double measure_syscall_ns() {
  return median_batch_ns(10'000, [](int n) {
    for (int i = 0; i < n; ++i) ::syscall(SYS_getppid);
  });
}

bool read_exact(int fd, char* buf, std::size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, buf, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    buf += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

bool write_byte(int fd) {
  char c = 'x';
  for (;;) {
    ssize_t r = ::write(fd, &c, 1);
    if (r == 1) return true;
    if (r < 0 && errno == EINTR) continue;
    return false;
  }
}

// A connected loopback pair (client, server side), TCP_NODELAY on both.
std::optional<std::pair<Fd, Fd>> loopback_pair() {
  Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  if (!listener || ::bind(listener.get(), sa, sizeof addr) != 0 || ::listen(listener.get(), 1) != 0 ||
      ::getsockname(listener.get(), sa, &len) != 0) {
    return std::nullopt;
  }
  Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!client || ::connect(client.get(), sa, sizeof addr) != 0) return std::nullopt;
  Fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!server) return std::nullopt;
  int one = 1;
  ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(server.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return std::make_pair(std::move(client), std::move(server));
}

// The echo side answers every byte until the client side closes.
std::optional<double> measure_loopback_rtt_us(int client_cpu, int server_cpu) {
  auto pair = loopback_pair();
  if (!pair) return std::nullopt;
  std::thread echo([&] {
    pin_current_thread({server_cpu});
    char c;
    while (read_exact(pair->second.get(), &c, 1) && write_byte(pair->second.get())) {
    }
  });
  pin_current_thread({client_cpu});
  bool ok = true;
  auto round_trips = [&](int n) {
    char c;
    for (int i = 0; i < n && ok; ++i) ok = write_byte(pair->first.get()) && read_exact(pair->first.get(), &c, 1);
  };
  double ns = median_batch_ns(100, round_trips);
  ::shutdown(pair->first.get(), SHUT_RDWR);  // the echo thread reads EOF
  echo.join();
  if (!ok) return std::nullopt;
  return ns / 1000.0;
}

long futex(std::atomic<uint32_t>& word, int op, uint32_t value) {
  return ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), op, value, nullptr, nullptr, 0);
}

// Two threads on one CPU pass a token with futex wait/wake. The word says
// whose turn it is: 0 this thread's, 1 the partner's, 2 the partner must end.
double measure_thread_switch_ns(int cpu) {
  std::atomic<uint32_t> turn{0};
  std::thread partner([&] {
    pin_current_thread({cpu});
    for (;;) {
      uint32_t t;
      while ((t = turn.load(std::memory_order_acquire)) == 0) futex(turn, FUTEX_WAIT_PRIVATE, 0);
      if (t == 2) return;
      turn.store(0, std::memory_order_release);
      futex(turn, FUTEX_WAKE_PRIVATE, 1);
    }
  });
  pin_current_thread({cpu});
  auto rounds = [&](int n) {
    for (int i = 0; i < n; ++i) {
      turn.store(1, std::memory_order_release);
      futex(turn, FUTEX_WAKE_PRIVATE, 1);
      while (turn.load(std::memory_order_acquire) == 1) futex(turn, FUTEX_WAIT_PRIVATE, 1);
    }
  };
  double per_round = median_batch_ns(200, rounds);
  turn.store(2, std::memory_order_release);
  futex(turn, FUTEX_WAKE_PRIVATE, 1);
  partner.join();
  return per_round / 2;  // a round is two switches
}

struct FiberPingPong {
  fiber::Context main;
  fiber::Context side;
};

void fiber_bounce(void* arg) {
  auto* pp = static_cast<FiberPingPong*>(arg);
  for (;;) fiber::switch_context(pp->side, pp->main);
}

std::optional<double> measure_fiber_switch_ns() {
  fiber::Stack stack = fiber::Stack::map(64 * 1024);
  if (!stack.valid()) return std::nullopt;
  // The side fiber never finishes: its stack is unmapped while it is
  // suspended, which is fine, nothing resumes it afterwards.
  FiberPingPong pp;
  fiber::make_context(pp.side, stack.bottom(), stack.size(), fiber_bounce, &pp);
  auto rounds = [&](int n) {
    for (int i = 0; i < n; ++i) fiber::switch_context(pp.main, pp.side);
  };
  return median_batch_ns(10'000, rounds) / 2;
}

std::optional<std::string> run_text(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string out;
  char buf[1024];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  int status = ::pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::optional<std::string> file_line(const std::string& path) {
  auto text = procfs::read_file(path);
  if (!text) return std::nullopt;
  return text->substr(0, text->find('\n'));
}

json number_from_file(const std::string& path, std::size_t field = 0) {
  auto line = file_line(path);
  if (!line) return nullptr;
  std::istringstream in(*line);
  long long v = 0;
  for (std::size_t i = 0; i <= field; ++i) {
    if (!(in >> v)) return nullptr;
  }
  return v;
}

json cpu_model() {
  auto text = procfs::read_file("/proc/cpuinfo");
  if (!text) return nullptr;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      return line.substr(line.find(':') + 2);
    }
  }
  return nullptr;
}

json os_pretty_name() {
  auto text = procfs::read_file("/etc/os-release");
  if (!text) return nullptr;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
    std::string v = line.substr(12);
    if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return nullptr;
}

json opt(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
json opt(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

}  // namespace

Calibration calibrate(const std::vector<int>& server_cpus, const std::vector<int>& client_cpus) {
  // Runs on its own thread so the caller's CPU affinity is left alone.
  Calibration c;
  std::thread worker([&] {
    int s = server_cpus.empty() ? 0 : server_cpus.front();
    int k = client_cpus.empty() ? s : client_cpus.front();
    pin_current_thread({s});
    c.syscall_ns = measure_syscall_ns();
    c.thread_switch_ns = measure_thread_switch_ns(s);
    pin_current_thread({s});
    c.fiber_switch_ns = measure_fiber_switch_ns();
    c.loopback_rtt_same_cpu_us = measure_loopback_rtt_us(s, s);
    if (k != s) c.loopback_rtt_cross_cpu_us = measure_loopback_rtt_us(k, s);
  });
  worker.join();
  return c;
}

nlohmann::ordered_json make_context(const ContextInputs& in) {
  nlohmann::ordered_json j;
  utsname u{};
  ::uname(&u);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  j["date_utc"] = in.date_utc;
  j["host"] = host;
  j["kernel"] = u.release;
  j["os"] = os_pretty_name();
  j["cpu_model"] = cpu_model();
  j["cpus_online"] = ::sysconf(_SC_NPROCESSORS_ONLN);
  j["server_cpus"] = in.server_cpus;
  j["client_cpus"] = in.client_cpus;
  j["backend_cpus"] = in.backend_cpus;
  j["limits"] = {
      {"nofile", static_cast<uint64_t>(nofile.rlim_cur)},
      {"ephemeral_port_first", number_from_file("/proc/sys/net/ipv4/ip_local_port_range", 0)},
      {"ephemeral_port_last", number_from_file("/proc/sys/net/ipv4/ip_local_port_range", 1)},
      {"somaxconn", number_from_file("/proc/sys/net/core/somaxconn")},
      {"pid_max", number_from_file("/proc/sys/kernel/pid_max")},
  };
  j["build"] = {{"compiler", CB_BUILD_COMPILER},
                {"flags", CB_BUILD_FLAGS},
                {"build_type", CB_BUILD_TYPE},
                {"sanitize", CB_BUILD_SANITIZE}};
  std::string git = std::string("git -C '") + CB_SOURCE_DIR + "' ";
  auto commit = run_text(git + "rev-parse HEAD 2>/dev/null");
  auto status = run_text(git + "status --porcelain 2>/dev/null");
  j["git"] = {{"commit", opt(commit)}, {"dirty", status ? json(!status->empty()) : json(nullptr)}};
  j["command"] = in.command;
  j["calibration"] = {
      {"syscall_ns", opt(in.calibration.syscall_ns)},
      {"loopback_rtt_same_cpu_us", opt(in.calibration.loopback_rtt_same_cpu_us)},
      {"loopback_rtt_cross_cpu_us", opt(in.calibration.loopback_rtt_cross_cpu_us)},
      {"thread_switch_ns", opt(in.calibration.thread_switch_ns)},
      {"fiber_switch_ns", opt(in.calibration.fiber_switch_ns)},
      {"disk_random_read_4k_us", opt(in.calibration.disk_random_read_4k_us)},
      {"disk_random_read_4k_p90_us", opt(in.calibration.disk_random_read_4k_p90_us)},
  };
  return j;
}

std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> cpus;
  std::istringstream in(text);
  auto bad = [&] { throw std::invalid_argument(fmt::format("invalid CPU list '{}' (e.g. 0 or 0,2-3)", text)); };
  for (std::string item; std::getline(in, item, ',');) {
    std::size_t dash = item.find('-');
    int lo = 0, hi = 0;
    try {
      std::size_t used = 0;
      lo = std::stoi(item, &used);
      if (dash == std::string::npos) {
        if (used != item.size()) bad();
        hi = lo;
      } else {
        if (used != dash) bad();
        hi = std::stoi(item.substr(dash + 1), &used);
        if (used != item.size() - dash - 1) bad();
      }
    } catch (const std::logic_error&) {
      bad();
    }
    if (lo < 0 || hi < lo || hi >= CPU_SETSIZE) bad();
    for (int c = lo; c <= hi; ++c) cpus.push_back(c);
  }
  if (cpus.empty()) bad();
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

std::string quote_command(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    bool plain = !a.empty() && a.find_first_not_of(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@+") == std::string::npos;
    if (!out.empty()) out += ' ';
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char ch : a) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    out += '\'';
  }
  return out;
}

}  // namespace cb::harness
