// backend_process.cpp: see backend_process.h.
#include "backend_process.h"

#include "listening_line.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace cb::testing {
namespace {

using Clock = std::chrono::steady_clock;
// Every wait gives up after this: a failure, never a hang.
constexpr auto kDeadline = std::chrono::seconds(30);

}  // namespace

BackendProcess::BackendProcess(const std::string& binary) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  Fd read_end(fds[0]), write_end(fds[1]);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) exec_child(binary, write_end.get());
  out_ = std::move(read_end);
  read_line();
}

BackendProcess::~BackendProcess() {
  if (pid_ > 0) (void)stop();
}

int BackendProcess::stop() {
  ::kill(pid_, SIGTERM);
  int status = 0;
  auto give_up = Clock::now() + kDeadline;
  pid_t r;
  while ((r = ::waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (r == 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  read_rest();
  if (r == 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

nlohmann::json BackendProcess::counters() const {
  auto at = output_.find("counters ");
  if (at == std::string::npos) return nullptr;
  auto end = output_.find('\n', at);
  return nlohmann::json::parse(output_.substr(at + 9, end - at - 9), nullptr, false);
}

void BackendProcess::exec_child(const std::string& binary, int out_fd) {
  ::dup2(out_fd, STDOUT_FILENO);
  std::string path = binary, port_flag = "--port", zero = "0";
  char* argv[] = {path.data(), port_flag.data(), zero.data(), nullptr};
  ::execv(argv[0], argv);
  ::_exit(127);
}

void BackendProcess::read_line() {
  auto give_up = Clock::now() + std::chrono::seconds(10);
  while (output_.find('\n') == std::string::npos && Clock::now() < give_up) {
    pollfd p{out_.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) < 0 && errno != EINTR) break;
    char buf[512];
    ssize_t n = p.revents ? ::read(out_.get(), buf, sizeof buf) : 0;
    if (p.revents && n <= 0) break;
    output_.append(buf, static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
  }
  // "listening 127.0.0.1:PORT backend pid=PID": the servers' line.
  auto line = listening::parse(std::string_view(output_).substr(0, output_.find('\n')));
  if (!line || output_.find(" backend ") == std::string::npos) {
    throw std::runtime_error("bench_backend did not start: " + output_);
  }
  port_ = line->port;
}

void BackendProcess::read_rest() {
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out_.get(), buf, sizeof buf)) > 0) {
    output_.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace cb::testing
