// reactor_uring.cpp: reactor:uring, an io_uring proactor on one thread. The
// readiness reactors ask "can I read?" and then read; this one posts the
// operations themselves and reacts to their completions:
//   accept  one multishot accept (single-shot, re-posted, on older kernels)
//   recv    one multishot receive per connection (single-shot before 6.0)
//           into provided buffers: the kernel takes a buffer from one shared
//           ring only when data arrives, so an idle connection owns none
//   send    the output queue's front, one send at a time; file ranges go out
//           with sendfile(2) on the non-blocking socket (io_uring has no
//           sendfile), waiting for POLLOUT through the ring when it blocks
// A posted send reads the output queue, so input arriving meanwhile is held
// (buffers not given back) until the send completes; kMaxHeld held buffers
// cancel the receive (back-pressure, as NbSession stops reading). Closing =
// shutdown(2) + cancel; the connection is freed at its last completion.
// CB_URING_SINGLESHOT=1 forces the single-shot paths (tests of the fallback).
// /app requests run on the loop thread, their backend calls blocking it (a
// plain blocking client, not yet io_uring submissions): SPED at its worst.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/io.h"
#include "common/shutdown.h"
#include "event/uring.h"
#include "session/acceptor.h"
#include "session/app_step.h"
#include "session/backend_pool.h"
#include "session/context.h"
#include "session/session.h"

namespace cb {
namespace {

using event::Clock;
using namespace std::chrono_literals;

constexpr unsigned kRingEntries = 1024;
// 512 x 8 KiB = 4 MiB of receive buffers, shared by every connection.
constexpr uint16_t kBufGroup = 1;
constexpr unsigned kBufCount = 512, kBufSize = 8 * 1024;
constexpr std::size_t kMaxHeld = 4;
constexpr std::chrono::milliseconds kStarvedRetry{1};
constexpr std::chrono::seconds kDrainLimit{5};

// user_data: a connection pointer with the operation in its 3 low bits, or
// the operation alone for the loop's own; kIgnore (0) marks cancellations.
enum Op : uint64_t { kIgnore = 0, kRecv = 1, kSend = 2, kPollOut = 3, kAccept = 4, kStop = 5 };
constexpr uint64_t kOpMask = 7;

template <class P>
class UringReactor {
 public:
  explicit UringReactor(ServerContext& ctx)
      : ctx_(ctx),
        stats_(ctx.stats()),
        multishot_(std::getenv("CB_URING_SINGLESHOT") == nullptr),
        loop_(kRingEntries),
        buffers_(loop_.ring(), kBufGroup, kBufCount, kBufSize),
        acceptor_(ctx.listener.get(), stats_) {
    accept_rest_.handler = &rest_over_;
  }
  // Frees connections only after a failure: drain() normally frees them all.
  ~UringReactor() {
    while (!live_.empty()) free(*live_.begin());
  }

  int run() {
    bump(stats_.workers);
    post_accept();
    loop_.post(kStop, [](io_uring_sqe* s) { io_uring_prep_poll_add(s, stop_fd(), POLLIN); });
    while (!stopping_) loop_.run_once(-1ns, *this);
    drain();
    return 0;
  }

  void on_completion(uint64_t data, int res, uint32_t flags) {  // from loop_
    auto* c = reinterpret_cast<Conn*>(data & ~kOpMask);
    uint64_t op = data & kOpMask;
    if (op == kAccept) return on_accept(res, flags);
    stopping_ |= op == kStop;
    if (c == nullptr) return;  // the stop poll or a cancellation
    if (op == kRecv) {
      on_recv(c, res, flags);
    } else {
      on_send(c, op == kSend ? res : 0);  // kPollOut: writable again, nothing sent yet
    }
    pump(c);
  }

 private:
  struct Conn : event::Handler {  // the Handler is the idle timer's
    UringReactor* owner;
    Fd fd;
    P protocol;
    proto::OutQueue out{};
    std::vector<std::pair<uint16_t, uint32_t>> held{};  // (buffer id, bytes) not yet fed
    event::Timer idle{this};
    Clock::time_point last_active{};
    uint8_t ops = 0;  // posted operations whose last completion is due
    bool recv_posted = false, cancel_posted = false, sending = false;
    bool starved = false, eof = false, closing = false;
  };

  static uint64_t tag(Conn* c, Op op) { return reinterpret_cast<uintptr_t>(c) | op; }

  // Keeps an accept posted: one multishot accept where the kernel has it
  // (5.19+), else single-shot accepts re-posted one by one.
  void post_accept() {
    loop_.post(kAccept, [&](io_uring_sqe* s) {
      int flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
      if (multishot_) {
        io_uring_prep_multishot_accept(s, acceptor_.fd(), nullptr, nullptr, flags);
      } else {
        io_uring_prep_accept(s, acceptor_.fd(), nullptr, nullptr, flags);
      }
    });
  }

  // The kernel accepted, or failed to: the shared accept rule decides what
  // that means (session/acceptor.h); out of descriptors, one queued client
  // is refused and accepting rests, as in the readiness reactors.
  void on_accept(int res, uint32_t flags) {
    bool rest = false;
    if (res >= 0) {
      Fd fd(res);
      if (!accept_stopped_) acceptor_.admit_accepted(std::move(fd), [this](Fd f) { admit(std::move(f)); });
    } else if (res == -EINVAL && multishot_) {
      multishot_ = false;  // a kernel without multishot accept: single-shot from now on
    } else if (res == -EMFILE || res == -ENFILE) {
      rest = acceptor_.refuse_after_no_fds() == AcceptNext::kRest;
    } else if (res != -ECANCELED) {
      rest = acceptor_.failed_accept() == AcceptNext::kRest;
    }
    if ((flags & IORING_CQE_F_MORE) || accept_stopped_) return;
    if (rest) return loop_.arm(&accept_rest_, loop_.now() + Acceptor::kRest);
    post_accept();
  }
  void on_rest_over(uint32_t) { post_accept(); }

  // Cancels the posted accept; connections completing later are closed.
  void stop_accepting() {
    accept_stopped_ = true;
    loop_.cancel(&accept_rest_);
    loop_.post(kIgnore, [](io_uring_sqe* s) { io_uring_prep_cancel64(s, kAccept, 0); });
  }

  void admit(Fd fd) {
    int one = 1;
    (void)::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // latency only
    auto* c = new Conn{{&UringReactor::on_idle}, this, std::move(fd), make_protocol<P>(ctx_)};
    live_.insert(c);
    c->last_active = loop_.now();
    arm_idle(c);
    pump(c);
  }

  void on_recv(Conn* c, int res, uint32_t flags) {
    if (!(flags & IORING_CQE_F_MORE)) {
      c->recv_posted = c->cancel_posted = false;
      --c->ops;
    }
    if (res > 0) {
      auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
      if (c->closing) return buffers_.give_back(bid);
      c->last_active = loop_.now();
      c->held.emplace_back(bid, static_cast<uint32_t>(res));
      if (c->held.size() >= kMaxHeld && c->recv_posted && !c->cancel_posted) {
        loop_.post(kIgnore, [&](io_uring_sqe* s) { io_uring_prep_cancel64(s, tag(c, kRecv), 0); });
        c->cancel_posted = true;
      }
    } else if (c->closing || res == -ECANCELED) {
      // ours: a close or the back-pressure cancel
    } else if (res == 0) {
      c->eof = true;  // answer what was held, then close
    } else if (res == -ENOBUFS) {
      c->starved = true;  // all buffers held by sending connections: retry soon
      loop_.arm(&c->idle, loop_.now() + kStarvedRetry);
    } else if (res == -EINVAL && multishot_) {
      multishot_ = false;  // a kernel without multishot receive: single-shot from now on
    } else {
      bump(res == -ECONNRESET ? stats_.errors_reset : stats_.errors_read);
      begin_close(c);
    }
  }

  // A send (or the POLLOUT a blocked sendfile waited for, res 0) completed.
  void on_send(Conn* c, int res) {
    --c->ops;
    c->sending = false;
    if (c->closing) return;
    if (res < 0) {
      bump(res == -EPIPE || res == -ECONNRESET ? stats_.errors_reset : stats_.errors_write);
      return begin_close(c);
    }
    c->last_active = loop_.now();
    bump(stats_.bytes_out, static_cast<uint64_t>(res));
    c->out.consume(static_cast<std::size_t>(res));
  }

  // Moves a connection on as far as it can without waiting.
  void pump(Conn* c) {
    while (!c->closing && !c->sending) {
      for (auto [bid, bytes] : c->held) {
        bump(stats_.bytes_in, bytes);
        c->protocol.on_input(std::string_view(buffers_.data(bid), bytes), c->out);
        buffers_.give_back(bid);
        run_app(c);
      }
      c->held.clear();
      if (!c->out.empty()) {
        send_front(c);
      } else if (c->protocol.closing() || c->eof) {
        begin_close(c);
      } else {
        if (!c->recv_posted && !c->starved) post_recv(c);
        break;
      }
    }
    if (c->closing && c->ops == 0) free(c);
  }

  // An /app request is worked on the loop thread, its backend calls blocking
  // on one connection of the loop's own: the loop waits for each call.
  void run_app(Conn* c) {
    if constexpr (HasAppStep<P>) {
      while (c->protocol.app_waiting()) {
        c->protocol.finish_app(perform_app(c->protocol.app(), backend_.get(), stats_), c->out);
      }
    }
  }

  void post_recv(Conn* c) {
    loop_.post(tag(c, kRecv), [&](io_uring_sqe* s) {
      io_uring_prep_recv(s, c->fd.get(), nullptr, 0, 0);
      if (multishot_) s->ioprio |= IORING_RECV_MULTISHOT;
      s->flags |= IOSQE_BUFFER_SELECT;
      s->buf_group = kBufGroup;
    });
    c->recv_posted = true;
    ++c->ops;
  }

  // Posts a send of the front bytes, or sendfile(2)s a file range directly.
  void send_front(Conn* c) {
    proto::OutQueue::Front f = c->out.front();
    int fd = c->fd.get();
    if (f.file_fd < 0) {
      loop_.post(tag(c, kSend), [&](io_uring_sqe* s) {
        io_uring_prep_send(s, fd, f.bytes.data(), f.bytes.size(), MSG_NOSIGNAL);
      });
    } else {
      off_t offset = f.file_offset;
      IoResult r = io::sendfile_some(fd, f.file_fd, &offset, f.file_length);
      if (r.ok()) {
        bump(stats_.bytes_out, r.bytes);
        return c->out.consume(r.bytes);
      }
      if (r.status != IoStatus::kRetry) {
        count_end(stats_, r, /*reading=*/false);
        return begin_close(c);
      }
      loop_.post(tag(c, kPollOut),
                 [&](io_uring_sqe* s) { io_uring_prep_poll_add(s, fd, POLLOUT); });
    }
    c->sending = true;
    ++c->ops;
  }

  void begin_close(Conn* c) {
    c->closing = true;
    loop_.cancel(&c->idle);
    for (auto [bid, bytes] : c->held) buffers_.give_back(bid);
    c->held.clear();
    if (c->ops == 0) return;
    // shutdown completes a posted receive (0) or send (EPIPE) at once; the
    // cancel covers any operation it does not wake.
    (void)::shutdown(c->fd.get(), SHUT_RDWR);
    loop_.post(kIgnore, [&](io_uring_sqe* s) {
      io_uring_prep_cancel_fd(s, c->fd.get(), IORING_ASYNC_CANCEL_ALL);
    });
  }

  void free(Conn* c) {
    live_.erase(c);
    loop_.cancel(&c->idle);
    delete c;
    bump(stats_.connections_closed);
  }

  void arm_idle(Conn* c) {
    if (idle_timeout_.count() > 0) loop_.arm(&c->idle, c->last_active + idle_timeout_);
  }

  // The connection's timer: the idle timeout, or a retry after ENOBUFS.
  static void on_idle(event::Handler* h, uint32_t) {
    auto* c = event::owner_of<Conn>(h);
    UringReactor* r = c->owner;
    if (c->starved) {
      c->starved = false;
      r->arm_idle(c);
      return r->pump(c);
    }
    Clock::time_point due = c->last_active + r->idle_timeout_;
    if (due > r->loop_.now()) return r->loop_.arm(&c->idle, due);
    bump(r->stats_.errors_idle_timeout);
    r->begin_close(c);
    r->pump(c);
  }

  // Stop: no more accepts; close every connection and wait (bounded) for
  // their last completions, so the kernel no longer touches their memory.
  void drain() {
    stop_accepting();
    for (Conn* c : std::vector<Conn*>(live_.begin(), live_.end())) {
      if (!c->closing) begin_close(c);
      pump(c);  // frees it unless completions are still due
    }
    Clock::time_point limit = Clock::now() + kDrainLimit;
    while (!live_.empty() && Clock::now() < limit) loop_.run_once(100ms, *this);
  }

  ServerContext& ctx_;
  CounterBlock& stats_;
  std::chrono::milliseconds idle_timeout_{ctx_.config.idle_timeout};
  bool multishot_;  // multishot receives (and accepts) until the kernel says EINVAL
  event::UringLoop loop_;
  event::ProvidedBuffers buffers_;
  std::unique_ptr<BlockingBackendPool> backend_{make_backend_pool(ctx_.config, stats_)};
  Acceptor acceptor_;
  event::Timer accept_rest_;
  event::MemberHandler<UringReactor, &UringReactor::on_rest_over> rest_over_{this};
  bool accept_stopped_ = false;
  std::unordered_set<Conn*> live_;
  bool stopping_ = false;
};

}  // namespace

bool reactor_uring_supported(std::string* why_not) {
  return event::uring_supported(why_not);
}

int run_reactor_uring(ServerContext& ctx) {
  return with_protocol(ctx, [&]<class P>(ProtoTag<P>) {
    UringReactor<P> reactor(ctx);
    return reactor.run();
  });
}

}  // namespace cb
