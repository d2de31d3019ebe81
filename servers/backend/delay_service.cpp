// delay_service.cpp: see delay_service.h.
#include "backend/delay_service.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "common/io.h"
#include "common/shutdown.h"
#include "common/status.h"

namespace cb::backend {
namespace {

// One read buffer for every connection (the decoder consumes it before the
// next read): 64 KiB is 4096 frames, plenty of pipelining per read.
constexpr std::size_t kScratchBytes = 64 * 1024;
// Replies one connection may owe before it is no longer read: bounds the
// queue (16 bytes a reply) of a client that sends without reading.
constexpr std::size_t kMaxPending = 4096;
// Replies per writev: two iovecs each, well under IOV_MAX (1024), and
// enough to empty a queue of small replies in one call.
constexpr std::size_t kWriteBatch = 64;
// Accepts per readiness event: a connect storm cannot starve established
// connections, and the rest are reported again (level-triggered).
constexpr int kAcceptBatch = 64;
// After accept failed or hit the descriptor limit the listener rests this
// long, so a full backlog cannot make the loop spin.
constexpr std::chrono::milliseconds kAcceptBackoff{10};

}  // namespace

std::string Counters::to_json() const {
  std::string out = "{";
#define CB_BACKEND_JSON(name) fmt::format_to(std::back_inserter(out), "\"{}\":{},", #name, name);
  CB_BACKEND_COUNTER_FIELDS(CB_BACKEND_JSON)
#undef CB_BACKEND_JSON
  out.back() = '}';
  return out;
}

// Handler first (as a base) so the loop's Handler* leads straight back;
// the timer reports kTimer to the same handler.
struct DelayService::Conn : event::Handler {
  Conn(DelayService* o, Fd f) : event::Handler{&DelayService::on_conn_event}, owner(o), fd(std::move(f)) {}
  DelayService* owner;
  Fd fd;
  proto::RequestDecoder decoder;
  ReplyQueue replies;
  event::Timer due{this};
  uint32_t interest = event::kReadable;  // what the poller watches now
  bool eof = false;                      // the peer sent all it will send
};

DelayService::DelayService(int listen_fd, Counters& counters)
    : listen_fd_(listen_fd),
      counters_(counters),
      loop_(event::EpollPoller::Trigger::kLevel),
      scratch_(kScratchBytes),
      listener_{{&DelayService::on_listener}, this},
      stop_{{&DelayService::on_stop}, this},
      resume_{{&DelayService::on_resume}, this} {
  backoff_.handler = &resume_;
}

DelayService::~DelayService() { close_all(); }

void DelayService::run() {
  loop_.watch(stop_fd(), event::kReadable, &stop_);
  loop_.watch(listen_fd_, event::kReadable, &listener_);
  loop_.run();
  close_all();
}

void DelayService::on_conn_event(event::Handler* h, uint32_t events) {
  auto* c = static_cast<Conn*>(h);
  c->owner->serve(c, events);
}

void DelayService::on_listener(event::Handler* h, uint32_t) {
  static_cast<Hook*>(h)->owner->accept_ready();
}

void DelayService::on_stop(event::Handler* h, uint32_t) { static_cast<Hook*>(h)->owner->loop_.stop(); }

void DelayService::on_resume(event::Handler* h, uint32_t) {
  DelayService* s = static_cast<Hook*>(h)->owner;
  s->loop_.watch(s->listen_fd_, event::kReadable, &s->listener_);
}

void DelayService::accept_ready() {
  for (int i = 0; i < kAcceptBatch; ++i) {
    AcceptResult a = guard_.accept(listen_fd_, /*nonblocking=*/true);
    if (a.status == AcceptStatus::kRetry) return;
    if (a.status == AcceptStatus::kAccepted) {
      admit(std::move(a.fd));
      continue;
    }
    ++(a.status == AcceptStatus::kRefusedNoFds ? counters_.errors_no_fds : counters_.errors_accept);
    loop_.unwatch(listen_fd_);
    return loop_.arm_after(&backoff_, kAcceptBackoff);
  }
}

void DelayService::admit(Fd fd) {
  auto* c = new Conn(this, std::move(fd));
  try {
    loop_.watch(c->fd.get(), c->interest, c);
  } catch (const SysError&) {  // ENOMEM / max_user_watches: drop this one
    ++counters_.errors_accept;
    delete c;
    return;
  }
  live_.insert(c);
  ++counters_.connections_accepted;
  counters_.connections_peak = std::max<uint64_t>(counters_.connections_peak, live_.size());
}

// Hangups come with kReadable: while reading, the read sees EOF or the
// error; while not reading, a hangup means the peer is gone for good.
void DelayService::serve(Conn* c, uint32_t events) {
  Step step = Step::kKeep;
  if (events & event::kTimer) {
    c->replies.release_due(loop_.now());
    step = write_replies(c);
  } else if ((events & event::kReadable) && (c->interest & event::kReadable)) {
    step = read_requests(c);
  } else if ((events & event::kHangup) && !(events & event::kWritable)) {
    ++counters_.errors_reset;
    step = Step::kClose;
  }
  if (step == Step::kKeep && (events & event::kWritable)) step = write_replies(c);
  if (step == Step::kClose) return close(c);
  settle(c);
}

DelayService::Step DelayService::read_requests(Conn* c) {
  // Never read more frames than the queue may still take.
  std::size_t room = (kMaxPending - c->replies.size()) * proto::kRequestBytes;
  std::span<char> into(scratch_.data(), std::min(scratch_.size(), room));
  IoResult r = io::read_some(c->fd.get(), into);
  switch (r.status) {
    case IoStatus::kOk:
      counters_.bytes_in += r.bytes;
      return decode(c, std::string_view(into.data(), r.bytes));
    case IoStatus::kRetry:
      return Step::kKeep;
    case IoStatus::kClosed:
      return end_of_input(c);
    case IoStatus::kReset:
      ++counters_.errors_reset;
      return Step::kClose;
    case IoStatus::kError:
      break;
  }
  ++counters_.errors_read;
  return Step::kClose;
}

// Queues every whole frame; delay 0 is due now, so it goes out in this call
// unless an earlier reply still holds it back.
DelayService::Step DelayService::decode(Conn* c, std::string_view in) {
  proto::Request r;
  proto::DecodeStatus s;
  while ((s = c->decoder.next(in, &r)) == proto::DecodeStatus::kFrame) {
    ++counters_.requests;
    c->replies.push(loop_.now() + std::chrono::microseconds(r.delay_us), r.id, r.reply_bytes);
  }
  if (s == proto::DecodeStatus::kError) {
    ++counters_.errors_bad_frame;
    return Step::kClose;
  }
  c->replies.release_due(loop_.now());
  return write_replies(c);
}

// The peer finished sending: what it asked for is still answered, then the
// connection closes (settle); a partial frame is dropped and counted.
DelayService::Step DelayService::end_of_input(Conn* c) {
  if (c->decoder.buffered() > 0) ++counters_.errors_truncated_frame;
  c->eof = true;
  return Step::kKeep;
}

// Writes released replies until they are all out or the socket is full.
DelayService::Step DelayService::write_replies(Conn* c) {
  while (c->replies.has_output()) {
    std::array<iovec, 2 * kWriteBatch> iov;
    std::array<ReplyHeader, kWriteBatch> headers;
    std::size_t n = c->replies.gather(iov, headers);
    IoResult w = io::writev_some(c->fd.get(), std::span<const iovec>(iov.data(), n));
    if (w.status == IoStatus::kRetry) return Step::kKeep;
    if (!w.ok()) {
      ++(w.status == IoStatus::kReset ? counters_.errors_reset : counters_.errors_write);
      return Step::kClose;
    }
    counters_.bytes_out += w.bytes;
    counters_.replies += c->replies.consume(w.bytes);
  }
  return Step::kKeep;
}

// After every event: close a finished connection, point the timer at the
// first held reply, and watch only what the connection can use now.
void DelayService::settle(Conn* c) {
  if (c->eof && c->replies.empty()) return close(c);
  std::optional<Clock::time_point> due = c->replies.next_due();
  if (!due) {
    loop_.cancel(&c->due);
  } else if (!c->due.armed() || c->due.deadline != *due) {
    loop_.arm(&c->due, *due);
  }
  uint32_t want = 0;
  if (!c->eof && c->replies.size() < kMaxPending) want |= event::kReadable;
  if (c->replies.has_output()) want |= event::kWritable;
  if (want == c->interest) return;
  c->interest = want;
  loop_.modify(c->fd.get(), want, c);
}

void DelayService::close(Conn* c) {
  loop_.unwatch(c->fd.get());
  loop_.cancel(&c->due);
  live_.erase(c);
  delete c;  // closes the socket
  ++counters_.connections_closed;
}

void DelayService::close_all() {
  while (!live_.empty()) close(*live_.begin());
}

}  // namespace cb::backend
