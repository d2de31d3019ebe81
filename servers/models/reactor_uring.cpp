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
//   read    a file GET parks in the protocol (set_offload_files, as in the
//           offloading models, session/file_step.h): a file whose pages are
//           cached (preadv2 RWF_NOWAIT) is served at once, on the loop; a
//           cold one is read with IORING_OP_READ (IOSQE_ASYNC: by io_uring's
//           kernel workers, never in the loop's own submit), the loop
//           serving others meanwhile: a small (inline) body whole into the connection's
//           ColdRead, a sendfile body's pages in kFileChunkBytes chunks into
//           one shared discard buffer, only to bring them into the page
//           cache (then sendfile sends from cache without blocking). At
//           most kFileReadsInFlight chunks per file are in flight; a short
//           read is resubmitted for the rest; an error or an early end of
//           file fails the request (finish_file with ok=false); no free
//           submission entry means the file is read here, blocking, counted.
// A posted send reads the output queue, so input arriving meanwhile is held
// (buffers not given back) until the send completes; kMaxHeld held buffers
// cancel the receive (back-pressure, as NbSession stops reading). Input is
// held the same way while a file GET waits for its reads, and while the
// protocol holds input back (its output limit), so that stays bounded too.
// The request-head timeout shares the connection's timer with the idle
// timeout (session/head_clock.h). Closing =
// shutdown(2) + cancel (of the socket's operations and the file's reads);
// the connection, whose protocol holds the file and whose ColdRead holds the
// body being read into, is freed at its last completion, so no completion
// and no kernel write ever finds it freed.
// CB_URING_SINGLESHOT=1 forces the single-shot paths (tests of the fallback).
// /app requests run on the loop thread, their backend calls blocking it (a
// plain blocking client, not yet io_uring submissions): SPED at its worst.
// The open(2) of a file GET stays on the loop too (a cold inode blocks it).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
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
#include "session/file_step.h"
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
// A cold sendfile body is read (into the discard buffer) this much at a
// time, at most kFileReadsInFlight chunks of one file at once: large reads,
// some parallelism for the disk, bounded memory. An inline body (at most
// 16 KiB) is one chunk.
constexpr std::size_t kFileChunkBytes = 128 * 1024;
constexpr std::size_t kFileReadsInFlight = 4;
// Every read is posted with IOSQE_ASYNC: io_uring hands it straight to its
// own kernel workers (io-wq, at most 4 per CPU for file reads) instead of
// first trying it in the submitting thread, where a cold page means the loop
// allocating page-cache pages (direct reclaim, under a memory cgroup's
// limit) and starting readahead itself. Measured on the disk workload (16 KiB
// files, 4x a 128 MiB limit, 100 connections): 12-15k requests/s with it,
// 8-11k without.

// A chunk whose read says EAGAIN or EINTR is resubmitted at most this often.
constexpr int kFileReadRetries = 4;

// user_data: a connection pointer with the operation in its 3 low bits, or
// the operation alone for the loop's own; kIgnore (0) marks cancellations.
// kFileRead tags a ReadSlot's address instead of the connection's.
enum Op : uint64_t {
  kIgnore = 0,
  kRecv = 1,
  kSend = 2,
  kPollOut = 3,
  kAccept = 4,
  kStop = 5,
  kFileRead = 6
};
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
  // Frees connections only after a failure or a drain that ran out of time:
  // drain() normally frees them all. One whose file reads are still in the
  // kernel is left allocated, and so is the discard buffer then: the kernel
  // may still write into them, and the process is about to exit.
  ~UringReactor() {
    bool kernel_writes = false;
    for (Conn* c : std::vector<Conn*>(live_.begin(), live_.end())) {
      if (c->cold && c->cold->in_flight > 0) {
        kernel_writes = true;
        live_.erase(c);
        continue;
      }
      free(c);
    }
    if (kernel_writes) (void)discard_.release();
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
    uint64_t op = data & kOpMask;
    if (op == kFileRead) {
      auto* slot = reinterpret_cast<ReadSlot*>(data & ~kOpMask);
      Conn* owner = slot->read->conn;
      on_file_read(slot, res);
      return pump(owner);
    }
    auto* c = reinterpret_cast<Conn*>(data & ~kOpMask);
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
  struct Conn;
  struct ColdRead;
  // One read of a cold file in flight (or due): bytes [offset, end) of the
  // file. Its address, 8-aligned, tags the read's completion.
  struct ReadSlot {
    ColdRead* read = nullptr;
    uint64_t offset = 0, end = 0;
    int retries = 0;
    bool posted = false;
  };
  // A parked file GET whose file was not cached: what is read, where to,
  // and how far it got. Lives from the first read to finish_file.
  struct ColdRead {
    ColdRead(Conn* c, const FileWait& w) : conn(c), wait(w) {
      if (w.inline_body) body.resize(static_cast<std::size_t>(w.size));
      for (ReadSlot& s : slots) s.read = this;
    }
    // Every byte asked for was read (or the read failed): nothing more to post.
    bool all_read() const {
      return failed || (next >= wait.size && std::all_of(slots.begin(), slots.end(), [](auto& s) {
                          return s.offset == s.end;
                        }));
    }
    Conn* conn;
    FileWait wait;
    std::string body;   // the whole file, for an inline body
    uint64_t next = 0;  // the first byte no slot has taken yet
    std::size_t in_flight = 0;
    bool failed = false;
    std::array<ReadSlot, kFileReadsInFlight> slots{};
  };

  struct Conn : event::Handler {  // the Handler is the idle timer's
    UringReactor* owner;
    Fd fd;
    P protocol;
    proto::OutQueue out{};
    std::vector<std::pair<uint16_t, uint32_t>> held{};  // (buffer id, bytes) not yet fed
    event::Timer idle{this};
    HeadClock head{};
    Clock::time_point last_active{};
    std::unique_ptr<ColdRead> cold{};  // a cold file being read for the parked GET
    unsigned ops = 0;  // posted operations whose last completion is due
    bool recv_posted = false, cancel_posted = false, sending = false;
    bool starved = false, eof = false, closing = false;
  };

  static uint64_t tag(Conn* c, Op op) { return reinterpret_cast<uintptr_t>(c) | op; }
  static uint64_t tag(ReadSlot* s, Op op) { return reinterpret_cast<uintptr_t>(s) | op; }

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
    if constexpr (HasFileStep<P>) c->protocol.set_offload_files(true);
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

  // Moves a connection on as far as it can without waiting. The response
  // of a cold file is appended only once its reads are done and no send is
  // posted (a posted send points into the output queue); responses queued
  // before it are sent while its reads are in flight.
  void pump(Conn* c) {
    while (!c->closing && !c->sending) {
      if (c->cold && c->cold->in_flight == 0) finish_cold(c);
      if (!c->cold && resume_held(c->protocol, c->out)) run_app(c);
      if (!c->cold) feed_held(c);
      if (!c->cold && file_waiting(c)) {
        start_file(c);
        continue;
      }
      if (!c->out.empty()) {
        send_front(c);
      } else if (c->cold) {
        break;  // its reads' completions pump again
      } else if (holds_input(c->protocol)) {
        continue;  // the queue is written: what was held is served next
      } else if (c->protocol.closing() || c->eof) {
        begin_close(c);
      } else {
        watch_head(c);
        if (!c->recv_posted && !c->starved) post_recv(c);
        break;
      }
    }
    if (c->closing && c->ops == 0) free(c);
  }

  // Feeds the held input to the protocol, buffer by buffer, until a file GET
  // parks or the protocol holds input back at its output limit (what
  // follows stays held: back-pressure while it waits).
  void feed_held(Conn* c) {
    std::size_t fed = 0;
    for (; fed < c->held.size() && !file_waiting(c) && !holds_input(c->protocol); ++fed) {
      auto [bid, bytes] = c->held[fed];
      bump(stats_.bytes_in, bytes);
      c->protocol.on_input(std::string_view(buffers_.data(bid), bytes), c->out);
      buffers_.give_back(bid);
      run_app(c);
    }
    c->head.note(c->protocol);
    c->held.erase(c->held.begin(), c->held.begin() + static_cast<std::ptrdiff_t>(fed));
  }

  static bool file_waiting(Conn* c) {
    if constexpr (HasFileStep<P>) {
      return c->protocol.file_waiting();
    } else {
      return false;
    }
  }

  // A parked file GET: served at once from the page cache, else its reads
  // go to io_uring (or, with no submission entry free, it is read here).
  void start_file(Conn* c) {
    if constexpr (HasFileStep<P>) {
      FileWait w = c->protocol.file_wait();
      FileRead done;
      if (serve_if_resident(w, &file_scratch_, &done, stats_)) return finish_file(c, done);
      c->cold = std::make_unique<ColdRead>(c, w);
      post_reads(c);
      if (c->cold->in_flight > 0) return bump(stats_.offload_jobs);
      c->cold.reset();
      bump(stats_.offload_queue_full);
      finish_file(c, read_file_here(w, &file_scratch_));
    }
  }

  // Posts reads until kFileReadsInFlight are out, the file is covered, or
  // no submission entry is free (the next completion tries again).
  void post_reads(Conn* c) {
    ColdRead& r = *c->cold;
    for (ReadSlot& s : r.slots) {
      if (r.failed) return;
      if (s.posted) continue;
      if (s.offset == s.end) {  // free: take the next chunk
        if (r.next >= r.wait.size) continue;
        s.offset = r.next;
        s.end = std::min<uint64_t>(r.next + kFileChunkBytes, r.wait.size);
        s.retries = 0;
        r.next = s.end;
      }
      char* into = r.wait.inline_body ? r.body.data() + s.offset : discard_.get();
      auto length = static_cast<unsigned>(s.end - s.offset);
      bool posted = loop_.try_post(tag(&s, kFileRead), [&](io_uring_sqe* e) {
        io_uring_prep_read(e, r.wait.fd, into, length, s.offset);
        e->flags |= IOSQE_ASYNC;  // why: above kFileReadRetries
      });
      if (!posted) return;
      s.posted = true;
      ++r.in_flight;
      ++c->ops;
      bump(stats_.uring_file_reads);
    }
  }

  // One read of a cold file completed: short reads and EAGAIN/EINTR are
  // posted again for the rest; an error or an early end of file (the file
  // shrank) fails the request once its other reads are back.
  void on_file_read(ReadSlot* s, int res) {
    ColdRead& r = *s->read;
    Conn* c = r.conn;
    s->posted = false;
    --r.in_flight;
    --c->ops;
    if (c->closing) return;  // an orphan (counted at the close): its data is dropped
    c->last_active = loop_.now();
    if (res > 0) {
      s->offset += static_cast<uint64_t>(res);
    } else if ((res == -EAGAIN || res == -EINTR) && ++s->retries <= kFileReadRetries) {
      // posted again below
    } else {
      r.failed = true;  // finish_file counts it (errors_read) and closes
    }
    post_reads(c);
    if (r.in_flight == 0 && !r.all_read()) read_rest_here(c);
  }

  // Nothing in flight and no submission entry to go on with: the file is
  // read here, blocking, as the offloading models do with a full queue.
  void read_rest_here(Conn* c) {
    ColdRead& r = *c->cold;
    bump(stats_.offload_queue_full);
    FileRead read = read_file_here(r.wait, &file_scratch_);
    if (r.wait.inline_body) r.body.assign(read.body);
    r.failed = !read.ok;
    r.next = r.wait.size;
    for (ReadSlot& s : r.slots) s.offset = s.end;
  }

  // Every read of the cold file is back: the protocol answers (copying the
  // body), and the ColdRead goes (an idle connection owns no file memory).
  void finish_cold(Conn* c) {
    std::unique_ptr<ColdRead> r = std::move(c->cold);
    finish_file(c, {r->wait.inline_body ? std::string_view(r->body) : std::string_view(),
                    !r->failed});
  }

  void finish_file(Conn* c, FileRead read) {
    if constexpr (HasFileStep<P>) {
      c->protocol.finish_file(read, c->out);
      run_app(c);  // what was held behind the file may be an /app request
    }
  }

  // Waiting for input: a request head that started must end by its
  // deadline, so the timer fires by then.
  void watch_head(Conn* c) {
    c->head.note(c->protocol);
    if (!c->head.running()) return;
    if (!c->idle.armed() || c->head.due() < c->idle.deadline) loop_.arm(&c->idle, c->head.due());
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
    if (c->cold && c->cold->in_flight > 0) {
      // Reads of a regular file finish on their own; the cancel only spares
      // those not started. Either way the connection waits for every one.
      bump(stats_.uring_file_reads_orphaned, c->cold->in_flight);
      int file_fd = c->cold->wait.fd;
      (void)loop_.try_post(kIgnore, [&](io_uring_sqe* s) {
        io_uring_prep_cancel_fd(s, file_fd, IORING_ASYNC_CANCEL_ALL);
      });
    }
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
    if (c->closing) return;
    if constexpr (HasHeadTimeout<P>) {
      c->head.note(c->protocol);  // no head is pending while a file is read or input held
      if (!c->cold && c->head.expired(r->loop_.now())) {
        // Input came in meanwhile: pump feeds it and looks again.
        if (!c->held.empty()) return;
        // A 408, sent by pump; the protocol closes after it.
        c->protocol.on_head_timeout(c->out);
        return r->pump(c);
      }
    }
    if (r->idle_timeout_.count() == 0) return r->watch_head(c);
    Clock::time_point due = c->last_active + r->idle_timeout_;
    // A connection waiting for its file's reads is not idle: it is the server's wait.
    if (c->cold) due = r->loop_.now() + r->idle_timeout_;
    if (due > r->loop_.now()) {
      r->loop_.arm(&c->idle, due);
      return r->watch_head(c);
    }
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
  // Where the reads that only fill the page cache put their bytes, shared by
  // every such read (never read back), and resident bodies probed on the loop.
  std::unique_ptr<char[]> discard_{new char[kFileChunkBytes]};
  std::string file_scratch_;
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
