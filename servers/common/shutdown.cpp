// shutdown.cpp: see shutdown.h.
#include "common/shutdown.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>

#include "common/status.h"

namespace cb {
namespace {

std::atomic<bool> g_stop{false};
int g_stop_fd = -1;

void on_stop_signal(int) { request_stop(); }

}  // namespace

void request_stop() {
  // Only async-signal-safe calls here: an atomic store and write(2).
  g_stop.store(true, std::memory_order_release);
  uint64_t one = 1;
  if (g_stop_fd >= 0) {
    ssize_t n = ::write(g_stop_fd, &one, sizeof one);
    (void)n;  // a full eventfd counter is already readable: nothing to do
  }
}

void install_signal_handlers() {
  if (g_stop_fd < 0) {
    g_stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (g_stop_fd < 0) throw SysError("eventfd", errno);
  }
  struct sigaction ignore{};
  ignore.sa_handler = SIG_IGN;
  if (::sigaction(SIGPIPE, &ignore, nullptr) != 0) throw SysError("sigaction(SIGPIPE)", errno);
  struct sigaction stop{};
  stop.sa_handler = on_stop_signal;
  sigemptyset(&stop.sa_mask);
  // No SA_RESTART: blocking calls return EINTR so loops re-check the flag.
  if (::sigaction(SIGTERM, &stop, nullptr) != 0) throw SysError("sigaction(SIGTERM)", errno);
  if (::sigaction(SIGINT, &stop, nullptr) != 0) throw SysError("sigaction(SIGINT)", errno);
}

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

bool stop_requested() { return g_stop.load(std::memory_order_acquire); }

int stop_fd() { return g_stop_fd; }

}  // namespace cb
