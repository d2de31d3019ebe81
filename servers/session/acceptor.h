// acceptor.h: the one accept rule every model follows. Models differ only in
// how they wait between batches (poll, an event loop, a parked fiber, an
// io_uring completion); what a batch does is written here once:
//   - accept up to a batch of queued connections (accept4 with CLOEXEC,
//     TCP_NODELAY), so a connect storm cannot starve established ones;
//   - hand each to the model, and count it accepted if the model took it;
//   - at EMFILE/ENFILE refuse one queued client with a clean close
//     (AcceptGuard's spare descriptor), count it, and rest kRest before
//     accepting again, so a backlog the process cannot take never turns the
//     loop into a spin; any other accept failure is counted and rests too.
#pragma once

#include <chrono>
#include <climits>
#include <type_traits>
#include <utility>

#include "common/counters.h"
#include "common/socket.h"

namespace cb {

// What the caller should do after a batch.
enum class AcceptNext {
  kWait,   // the queue is empty: wait until the listener is readable
  kYield,  // the batch is done and more may be queued: serve others, come back
  kRest,   // refused or failed: leave the listener alone for Acceptor::kRest
};

class Acceptor {
 public:
  // Accepts per batch: enough to amortise the wakeup over a burst, few
  // enough that established connections are served between batches.
  static constexpr int kBatch = 64;
  // An edge-triggered listener must be drained to EAGAIN: its edge is not
  // repeated.
  static constexpr int kUntilEmpty = INT_MAX;
  // The rest after a refusal: long enough that a full backlog costs a few
  // accept4 calls per second, short enough to take clients soon after
  // descriptors are freed.
  static constexpr std::chrono::milliseconds kRest{10};

  // `blocking_sockets`: the accepted sockets stay blocking (thread and
  // process models); otherwise they are non-blocking.
  Acceptor(int listen_fd, CounterBlock& stats, bool blocking_sockets = false)
      : listen_fd_(listen_fd), stats_(&stats), nonblocking_(!blocking_sockets) {}

  int fd() const { return listen_fd_; }

  // Accepts up to `batch` connections and hands each to admit(Fd). An admit
  // that returns void takes every connection, and it is counted before the
  // hand-over (another thread may serve and close it at once, and closed must
  // never run ahead of accepted). One that returns bool may refuse it
  // (false, counting why itself); it is then counted only if taken.
  template <class Admit>
  AcceptNext accept_batch(Admit&& admit, int batch = kBatch) {
    for (int i = 0; i < batch; ++i) {
      AcceptResult a = guard_.accept(listen_fd_, nonblocking_);
      if (a.status == AcceptStatus::kRetry) return AcceptNext::kWait;
      if (a.status != AcceptStatus::kAccepted) return failed(a.status);
      admit_accepted(std::move(a.fd), admit);
    }
    return AcceptNext::kYield;
  }

  // For a kernel that accepts by itself (io_uring) and reports EMFILE/ENFILE:
  // refuse one queued client the same way and rest.
  AcceptNext refuse_after_no_fds() {
    // EMFILE again: the guard refuses the client. Should a descriptor have
    // been freed meanwhile, the client is accepted and closed at once: it
    // sees the same clean close.
    (void)guard_.accept(listen_fd_, nonblocking_);
    return failed(AcceptStatus::kRefusedNoFds);
  }
  // A connection accepted (by accept_batch, or by such a kernel), counted as
  // accept_batch says.
  template <class Admit>
  void admit_accepted(Fd fd, Admit&& admit) {
    if constexpr (std::is_void_v<std::invoke_result_t<Admit&, Fd>>) {
      bump(stats_->connections_accepted);
      admit(std::move(fd));
    } else {
      if (admit(std::move(fd))) bump(stats_->connections_accepted);
    }
  }
  // Its other accept failures.
  AcceptNext failed_accept() { return failed(AcceptStatus::kError); }

 private:
  AcceptNext failed(AcceptStatus status) {
    bump(status == AcceptStatus::kRefusedNoFds ? stats_->errors_no_fds : stats_->errors_accept);
    return AcceptNext::kRest;
  }

  int listen_fd_;
  CounterBlock* stats_;
  bool nonblocking_;
  AcceptGuard guard_;
};

}  // namespace cb
