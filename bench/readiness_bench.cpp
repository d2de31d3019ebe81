// readiness_bench.cpp: select vs poll vs epoll as the number of watched
// descriptors grows while only a few are active: the setup of libevent's
// classic benchmark (bench.c), with eventfds instead of socketpairs.
//   build/bench/readiness_bench [--benchmark_format=json]
// Names: BM_Readiness/<select|poll|epoll>/active:<A>/fds:<N>
//   N descriptors are watched (10 .. 10,000; select only up to 1,000,
//   below FD_SETSIZE = 1024), A of them (1 or 100, A <= N, spread evenly)
//   are made readable each iteration.
// One iteration is one loop turn: write to the A active descriptors, one wait
// call (with the per-call work its API demands: copying the fd_set, scanning
// the results), read the ready ones back. That is what libevent's bench
// times. The wait call alone is the counter ns_per_wait; ready_per_wait
// checks that exactly A descriptors were reported.
// Why eventfds: one descriptor each, so 10,000 watched descriptors stay under
// a 20,000 open-file limit (socketpairs would need 20,000 plus the rest).
// This file calls select/poll/epoll directly, not through servers/event,
// because measuring the raw calls is its purpose.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "common/fd.h"

namespace {

using SteadyClock = std::chrono::steady_clock;

// N non-blocking eventfds; `active` holds the indices of the A active ones.
struct Watched {
  std::vector<cb::Fd> fds;
  std::vector<int> active;

  bool open(int n, int a) {
    fds.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      cb::Fd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
      if (!fd) return false;
      fds.push_back(std::move(fd));
    }
    for (int i = 0; i < a; ++i) active.push_back(i * (n / a));
    return true;
  }
  bool signal_active() const {
    uint64_t one = 1;
    for (int i : active) {
      if (::write(fds[static_cast<std::size_t>(i)].get(), &one, sizeof(one)) != sizeof(one)) {
        return false;
      }
    }
    return true;
  }
};

// Each waiter: setup(watched) once, then wait(ready) per iteration, which
// returns how many descriptors it found readable and lists them in `ready`.
// Timeouts are zero: the active descriptors are ready before the call, so a
// blocking wait would return at once anyway, and a bug cannot hang the run.
class SelectWaiter {
 public:
  bool setup(const Watched& w) {
    FD_ZERO(&master_);
    for (const cb::Fd& fd : w.fds) {
      if (fd.get() >= FD_SETSIZE) return false;
      FD_SET(fd.get(), &master_);
      if (fd.get() > max_fd_) max_fd_ = fd.get();
      fds_.push_back(fd.get());
    }
    return true;
  }
  int wait(std::vector<int>& ready) {
    fd_set set = master_;  // select overwrites its argument: copy each call
    timeval zero{};
    int n = ::select(max_fd_ + 1, &set, nullptr, nullptr, &zero);
    if (n < 0) return -1;
    for (int fd : fds_) {
      if (FD_ISSET(fd, &set)) ready.push_back(fd);
    }
    return n;
  }

 private:
  fd_set master_{};
  int max_fd_ = -1;
  std::vector<int> fds_;
};

class PollWaiter {
 public:
  bool setup(const Watched& w) {
    for (const cb::Fd& fd : w.fds) pfds_.push_back(pollfd{fd.get(), POLLIN, 0});
    return true;
  }
  int wait(std::vector<int>& ready) {
    int n = ::poll(pfds_.data(), pfds_.size(), 0);
    if (n < 0) return -1;
    for (const pollfd& p : pfds_) {
      if (p.revents & POLLIN) ready.push_back(p.fd);
    }
    return n;
  }

 private:
  std::vector<pollfd> pfds_;
};

class EpollWaiter {
 public:
  bool setup(const Watched& w) {
    ep_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!ep_) return false;
    for (const cb::Fd& fd : w.fds) {
      epoll_event ev{};
      ev.events = EPOLLIN;  // level-triggered, like the select and poll loops
      ev.data.fd = fd.get();
      if (::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) return false;
    }
    return true;
  }
  int wait(std::vector<int>& ready) {
    int n = ::epoll_wait(ep_.get(), events_, kMaxEvents, 0);
    for (int i = 0; i < n; ++i) ready.push_back(events_[i].data.fd);
    return n;
  }

 private:
  static constexpr int kMaxEvents = 256;  // more than the largest A
  cb::Fd ep_;
  epoll_event events_[kMaxEvents]{};
};

bool drain(const std::vector<int>& ready) {
  for (int fd : ready) {
    uint64_t value = 0;
    if (::read(fd, &value, sizeof(value)) != sizeof(value)) return false;
  }
  return true;
}

template <class Waiter>
void BM_Readiness(benchmark::State& state, int active) {
  const int n = static_cast<int>(state.range(0));
  Watched watched;
  if (!watched.open(n, active)) return state.SkipWithError("eventfd failed (open-file limit?)");
  Waiter waiter;
  if (!waiter.setup(watched)) return state.SkipWithError("poller setup failed");
  std::vector<int> ready;
  ready.reserve(static_cast<std::size_t>(n));
  int64_t wait_ns = 0;
  int64_t reported = 0;
  for (auto _ : state) {
    ready.clear();
    if (!watched.signal_active()) {
      state.SkipWithError("eventfd write failed");
      break;
    }
    auto start = SteadyClock::now();
    int found = waiter.wait(ready);
    wait_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - start).count();
    reported += found;
    if (found != active || !drain(ready)) {
      state.SkipWithError("the poller did not report exactly the active descriptors");
      break;
    }
  }
  if (state.error_occurred() || state.iterations() == 0) return;
  double iterations = static_cast<double>(state.iterations());
  state.counters["ns_per_wait"] = static_cast<double>(wait_ns) / iterations;
  state.counters["ready_per_wait"] = static_cast<double>(reported) / iterations;
}

template <class Waiter>
void register_poller(const char* poller, int max_fds) {
  for (int active : {1, 100}) {
    std::string name = std::string("BM_Readiness/") + poller + "/active:" + std::to_string(active);
    auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_Readiness<Waiter>, active);
    b->ArgName("fds")->UseRealTime()->Unit(benchmark::kMicrosecond);
    for (int fds : {10, 100, 1000, 10000}) {
      if (fds >= active && fds <= max_fds) b->Arg(fds);
    }
  }
}

bool register_all() {
  register_poller<SelectWaiter>("select", 1000);  // FD_SETSIZE is 1024
  register_poller<PollWaiter>("poll", 10000);
  register_poller<EpollWaiter>("epoll", 10000);
  return true;
}

[[maybe_unused]] const bool kRegistered = register_all();

}  // namespace
