// backend_control.cpp: see backend_control.h.
#include "backend_control.h"

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

#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "common/status.h"
#include "listening_line.h"
#include "server_control.h"  // describe_wait_status

namespace cb::harness {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kPollStep{5};
constexpr int kProbeTimeoutS = 5;
// The wire format of servers/protocol/backend_frame.h (the harness does not
// link the server's protocol library: it speaks to the service as any
// client would). Little-endian u32s.
constexpr uint32_t kRequestMagic = 0x31514B42;  // "BKQ1"
constexpr uint32_t kReplyMagic = 0x31524B42;    // "BKR1"
constexpr uint32_t kProbeId = 0x68617270;       // "prah": any value is echoed back
constexpr std::size_t kRequestBytes = 16;
constexpr std::size_t kReplyHeaderBytes = 12;

void put_u32(char* at, uint32_t v) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint32_t get_u32(const char* at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(at[i]);
  return v;
}




bool send_all(int fd, const char* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::send(fd, data + done, size - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::size_t recv_exactly(int fd, char* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::recv(fd, data + done, size - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

}  // namespace

std::optional<nlohmann::json> find_counters_line(const std::string& output) {
  static constexpr std::string_view kPrefix = "counters ";
  std::optional<nlohmann::json> found;
  std::size_t start = 0;
  while (start < output.size()) {
    std::size_t eol = output.find('\n', start);
    std::string_view line(output.data() + start, (eol == std::string::npos ? output.size() : eol) - start);
    if (line.substr(0, kPrefix.size()) == kPrefix) {
      nlohmann::json j = nlohmann::json::parse(line.substr(kPrefix.size()), nullptr, false);
      if (!j.is_discarded() && j.is_object()) found = std::move(j);
    }
    if (eol == std::string::npos) break;
    start = eol + 1;
  }
  return found;
}

BackendControl::BackendControl(BackendSpec spec) : spec_(std::move(spec)) {}

BackendControl::~BackendControl() {
  if (pid_ > 0) stop();
}

std::string BackendControl::address() const { return fmt::format("{}:{}", host_, port_); }

std::optional<std::string> BackendControl::start() {
  out_ = make_memfd("backend-stdout");
  err_ = make_memfd("backend-stderr");
  std::vector<std::string> args = {spec_.binary, "--host", "127.0.0.1", "--port", "0"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : spec_.cpus) CPU_SET(static_cast<std::size_t>(cpu), &set);
  const cpu_set_t* pin = spec_.cpus.empty() ? nullptr : &set;
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw SysError("fork(backend)", errno);
  if (pid == 0) {
    exec_child(parent, pin, out_.get(), err_.get(), argv.data(),
               "harness: sched_setaffinity failed in the backend child\n",
               "harness: cannot exec the backend binary\n");
  }
  pid_ = pid;
  ::setpgid(pid_, pid_);
  std::optional<std::string> failed = wait_listening();
  if (!failed) failed = probe();
  if (failed) stop();
  return failed;
}

std::optional<std::string> BackendControl::wait_listening() {
  auto deadline = Clock::now() + spec_.startup_timeout;
  for (;;) {
    if (auto line = listening::find(read_memfd(out_.get()))) {
      host_ = line->host;
      port_ = line->port;
      return std::nullopt;
    }
    if (auto exited = check_exited()) {
      std::string err = read_memfd(err_.get());
      while (!err.empty() && err.back() == '\n') err.pop_back();
      std::size_t nl = err.rfind('\n');
      std::string why = nl == std::string::npos ? err : err.substr(nl + 1);
      return fmt::format("{}{}{}", *exited, why.empty() ? "" : ": ", why);
    }
    if (Clock::now() > deadline) {
      return fmt::format("backend: no 'listening' line within {} ms", spec_.startup_timeout.count());
    }
    std::this_thread::sleep_for(kPollStep);
  }
}

std::optional<std::string> BackendControl::probe() {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fmt::format("backend: probe socket: {}", std::strerror(errno));
  timeval tv{kProbeTimeoutS, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  if (::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr) != 1) {
    return fmt::format("backend: listening on '{}', not an IPv4 address", host_);
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return fmt::format("backend: probe cannot connect to {}: {}", address(), std::strerror(errno));
  }
  std::array<char, kRequestBytes> frame{};
  put_u32(frame.data(), kRequestMagic);
  put_u32(frame.data() + 4, 0);  // delay_us: answer at once
  put_u32(frame.data() + 8, 0);  // reply_bytes
  put_u32(frame.data() + 12, kProbeId);
  std::array<char, kReplyHeaderBytes> reply{};
  if (!send_all(fd.get(), frame.data(), frame.size()) ||
      recv_exactly(fd.get(), reply.data(), reply.size()) != reply.size()) {
    return "backend: the probe frame got no reply";
  }
  if (get_u32(reply.data()) != kReplyMagic || get_u32(reply.data() + 4) != kProbeId ||
      get_u32(reply.data() + 8) != 0) {
    return "backend: the probe frame got a wrong reply";
  }
  return std::nullopt;
}

std::optional<std::string> BackendControl::check_exited() {
  if (pid_ <= 0) return std::string("backend: not running");
  if (!reaped_) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) return std::nullopt;
    if (r < 0) return fmt::format("backend: waitpid: {}", std::strerror(errno));
    reaped_ = true;
    exit_status_ = status;
  }
  return "backend: " + describe_wait_status(exit_status_);
}

std::optional<std::string> BackendControl::stop() {
  if (pid_ <= 0) return std::nullopt;
  std::optional<std::string> result;
  if (auto exited = check_exited()) {
    result = "backend: died during the run (" + exited->substr(9) + ")";
  } else {
    ::kill(pid_, SIGTERM);
    auto deadline = Clock::now() + spec_.stop_grace;
    while (!check_exited() && Clock::now() < deadline) std::this_thread::sleep_for(kPollStep);
    if (!reaped_) {
      ::kill(-pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
      exit_status_ = status;
      result = fmt::format("backend: still running {} ms after SIGTERM (SIGKILLed)", spec_.stop_grace.count());
    } else if (!WIFEXITED(exit_status_) || WEXITSTATUS(exit_status_) != 0) {
      result = "backend: on SIGTERM it " + describe_wait_status(exit_status_);
    }
  }
  ::kill(-pid_, SIGKILL);  // anything left of its group (it forks nothing, but be sure)
  pid_ = -1;
  counters_ = find_counters_line(read_memfd(out_.get()));
  if (!result && !counters_) result = "backend: no counters line at exit";
  return result;
}

std::string BackendControl::output() const {
  return (out_ ? read_memfd(out_.get()) : "") + (err_ ? read_memfd(err_.get()) : "");
}

}  // namespace cb::harness
