// process.cpp: the process models.
//   process:fork     fork per accepted connection; the child serves it and
//                    _exits; the parent reaps it with wait4 and adds the
//                    child's rusage (CPU, context switches, peak RSS) to the
//                    shared counters, so totals include exited children.
//   process:prefork  N workers forked up front, each accepting on the shared
//                    listener and serving one connection at a time (Apache
//                    prefork); a worker that dies is replaced.
// An /app request's backend calls block the process serving it, on the
// process's own backend connection (a fork child opens one for its client,
// a prefork worker keeps one). Children reset SIGTERM to its default action,
// so stopping the server is "SIGTERM every child, reap every child" and
// nothing is left behind.
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <functional>
#include <memory>
#include <new>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/shutdown.h"
#include "common/status.h"
#include "session/context.h"
#include "session/accept_loop.h"
#include "session/backend_pool.h"
#include "session/session.h"

namespace cb {
namespace {

// Read buffer of a child: it serves one connection, so a plain array does.
constexpr std::size_t kScratchBytes = 16 * 1024;

uint64_t to_us(const timeval& tv) {
  return static_cast<uint64_t>(tv.tv_sec) * 1'000'000 + static_cast<uint64_t>(tv.tv_usec);
}

// Owns the children: SIGCHLD arrives on a signalfd the accept loop polls.
class ChildReaper {
 public:
  // on_exit(pid, killed_by_signal) runs for every reaped child.
  using OnExit = std::function<void(pid_t, bool)>;

  ChildReaper(CounterBlock& counters, OnExit on_exit)
      : counters_(counters), on_exit_(std::move(on_exit)) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    if (::sigprocmask(SIG_BLOCK, &mask, &old_mask_) != 0) throw SysError("sigprocmask", errno);
    signal_fd_ = Fd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signal_fd_) throw SysError("signalfd(SIGCHLD)", errno);
  }

  int fd() const { return signal_fd_.get(); }

  // fork(), with SIGTERM and SIGINT held back until the child has their
  // default action again: one arriving in between would otherwise run the
  // parent's handler in the child (under TSan: be deferred, then dropped),
  // leaving a child that no longer dies of SIGTERM and a parent waiting for
  // it at stop. The child also dies with the parent (PR_SET_PDEATHSIG), so
  // no orphan outlives a crash. Returns like fork().
  pid_t fork_child() {
    sigset_t stop_signals, before;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    ::sigprocmask(SIG_BLOCK, &stop_signals, &before);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::signal(SIGTERM, SIG_DFL);
      ::signal(SIGINT, SIG_DFL);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent_) ::_exit(0);  // the parent died before prctl
      ::sigprocmask(SIG_SETMASK, &old_mask_, nullptr);  // a held-back SIGTERM ends it here
      return 0;
    }
    ::sigprocmask(SIG_SETMASK, &before, nullptr);
    return pid;
  }
  std::size_t live() const { return children_.size(); }
  void adopt(pid_t pid) { children_.insert(pid); }

  // Reaps every exited child; returns how many.
  int reap(int flags = WNOHANG) {
    signalfd_siginfo info;
    while (::read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
    }
    int reaped = 0;
    for (;;) {
      int status = 0;
      rusage ru{};
      pid_t pid = ::wait4(-1, &status, flags, &ru);
      if (pid <= 0) break;
      children_.erase(pid);
      account(ru);
      on_exit_(pid, WIFSIGNALED(status));
      ++reaped;
      if (flags == 0 && children_.empty()) break;
    }
    return reaped;
  }

  // SIGTERM to every child (their handler is the default: they die), then
  // a blocking reap of all of them.
  void stop_all() {
    for (pid_t pid : children_) ::kill(pid, SIGTERM);
    while (!children_.empty()) {
      if (reap(0) == 0 && errno == ECHILD) break;
    }
  }

 private:
  void account(const rusage& ru) {
    bump(counters_.children_reaped);
    bump(counters_.children_user_us, to_us(ru.ru_utime));
    bump(counters_.children_sys_us, to_us(ru.ru_stime));
    bump(counters_.children_voluntary_cs, static_cast<uint64_t>(ru.ru_nvcsw));
    bump(counters_.children_involuntary_cs, static_cast<uint64_t>(ru.ru_nivcsw));
    auto rss = static_cast<uint64_t>(ru.ru_maxrss);
    uint64_t seen = counters_.children_max_rss_kb.load(std::memory_order_relaxed);
    while (rss > seen && !counters_.children_max_rss_kb.compare_exchange_weak(seen, rss)) {
    }
  }

  CounterBlock& counters_;
  OnExit on_exit_;
  Fd signal_fd_;
  sigset_t old_mask_;
  pid_t parent_ = ::getpid();
  std::unordered_set<pid_t> children_;
};

template <class P>
void serve_one(ServerContext& ctx, Fd conn, BlockingBackendPool* backend) {
  std::array<char, kScratchBytes> scratch;
  P protocol = make_protocol<P>(ctx);
  SocketStream stream(conn.get());
  run_session(stream, protocol, scratch, ctx.stats(), backend);
}

// A connection lives exactly as long as its child, so the parent counts it
// closed when it reaps the child, however the child ended.
template <class P>
int run_fork(ServerContext& ctx) {
  ChildReaper reaper(ctx.stats(), [&](pid_t, bool) { bump(ctx.stats().connections_closed); });
  AcceptLoopOptions options;
  options.extra_fd = reaper.fd();
  options.on_extra = [&] { reaper.reap(); };
  run_accept_loop(ctx, ctx.listener.get(), options, [&](Fd conn) {
    pid_t pid = reaper.fork_child();
    if (pid == 0) {
      ctx.listener.reset();
      // The child's own backend connection, opened at its first call.
      std::unique_ptr<BlockingBackendPool> backend =
          make_backend_pool(ctx.config, ctx.stats(), ctx.config.backend_conns);
      serve_one<P>(ctx, std::move(conn), backend.get());
      backend.reset();
      ::_exit(0);
    }
    if (pid < 0) {
      bump(ctx.stats().errors_spawn);
      bump(ctx.stats().connections_closed);
      return;  // conn closes here: the client sees the connection end
    }
    bump(ctx.stats().workers);
    reaper.adopt(pid);
  });
  reaper.stop_all();
  return 0;
}

// Which prefork worker slots are serving a connection right now, in shared
// memory: a worker stopped by SIGTERM mid-connection cannot count its own
// close, so the parent does it when it reaps the worker.
class BusySlots {
 public:
  explicit BusySlots(std::size_t n) : n_(n) {
    void* mem = ::mmap(nullptr, n * sizeof(std::atomic<uint8_t>), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) throw SysError("mmap(prefork slots)", errno);
    slots_ = new (mem) std::atomic<uint8_t>[n]();
  }
  ~BusySlots() { ::munmap(slots_, n_ * sizeof(std::atomic<uint8_t>)); }
  BusySlots(const BusySlots&) = delete;
  BusySlots& operator=(const BusySlots&) = delete;
  std::atomic<uint8_t>& operator[](std::size_t i) { return slots_[i]; }

 private:
  std::size_t n_;
  std::atomic<uint8_t>* slots_;
};

// A prefork worker: accept one connection, serve it, repeat.
template <class P>
[[noreturn]] void prefork_worker(ServerContext& ctx, std::atomic<uint8_t>& busy) {
  AcceptLoopOptions options;
  options.max_batch = 1;
  // One backend connection per worker: it serves one client at a time.
  std::unique_ptr<BlockingBackendPool> backend =
      make_backend_pool(ctx.config, ctx.stats(), ctx.config.backend_conns);
  run_accept_loop(ctx, ctx.listener.get(), options, [&](Fd conn) {
    busy.store(1);
    serve_one<P>(ctx, std::move(conn), backend.get());
    bump(ctx.stats().connections_closed);
    busy.store(0);
  });
  backend.reset();
  ::_exit(0);
}

template <class P>
int run_prefork(ServerContext& ctx) {
  int workers = ctx.config.pool_workers();
  BusySlots busy(static_cast<std::size_t>(workers));
  std::unordered_map<pid_t, std::size_t> slot_of;
  std::vector<std::size_t> free_slots;
  for (int i = workers - 1; i >= 0; --i) free_slots.push_back(static_cast<std::size_t>(i));
  ChildReaper reaper(ctx.stats(), [&](pid_t pid, bool) {
    std::size_t slot = slot_of[pid];
    slot_of.erase(pid);
    if (busy[slot].exchange(0) != 0) bump(ctx.stats().connections_closed);
    free_slots.push_back(slot);
  });
  auto spawn = [&] {
    std::size_t slot = free_slots.back();
    pid_t pid = reaper.fork_child();
    if (pid == 0) {
      prefork_worker<P>(ctx, busy[slot]);
    }
    if (pid < 0) {
      bump(ctx.stats().errors_spawn);
      return false;
    }
    free_slots.pop_back();
    slot_of[pid] = slot;
    bump(ctx.stats().workers);
    reaper.adopt(pid);
    return true;
  };
  for (int i = 0; i < workers; ++i) spawn();
  // The parent only waits: for stop, or for a worker to die and be replaced.
  pollfd fds[2] = {{stop_fd(), POLLIN, 0}, {reaper.fd(), POLLIN, 0}};
  while (!stop_requested()) {
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) throw SysError("poll(prefork)", errno);
    if (stop_requested()) break;
    if (fds[1].revents & POLLIN) {
      reaper.reap();
      // A failed fork is not retried until the next child exit, so a
      // process limit cannot make this loop spin.
      while (reaper.live() < static_cast<std::size_t>(workers) && !stop_requested()) {
        if (!spawn()) break;
      }
    }
  }
  reaper.stop_all();
  return 0;
}

}  // namespace

int run_process_fork(ServerContext& ctx) {
  return with_protocol(ctx, [&]<class P>(ProtoTag<P>) { return run_fork<P>(ctx); });
}

int run_process_prefork(ServerContext& ctx) {
  return with_protocol(ctx, [&]<class P>(ProtoTag<P>) { return run_prefork<P>(ctx); });
}

}  // namespace cb
