// session.h: the straight-line session loop used by every blocking-style
// model (process, thread, pool:conn) and by fibers: read, hand the bytes to
// the protocol, do an /app request's work (app_step.h) or a parked file
// GET's read (file_step.h), write everything it queued, repeat until close.
//
// The Stream decides what "blocking" means: a blocking socket for threads and
// processes, a fiber-aware socket that parks the fiber for the hub.
//   Stream: IoResult read(std::span<char>);
//           IoResult write(std::string_view);
//           IoResult sendfile(int file_fd, off_t* offset, std::size_t count);
// A read that returns kRetry on a blocking stream means SO_RCVTIMEO expired:
// the idle timeout.
#pragma once

#include <sys/socket.h>

#include <sys/time.h>

#include <chrono>
#include <cstddef>
#include <span>

#include "common/counters.h"
#include "common/io.h"
#include "common/status.h"
#include "protocol/out_queue.h"
#include "session/app_step.h"
#include "session/file_step.h"
#include "session/head_clock.h"

namespace cb {

// Counts why a session ended (an orderly close is not an error).
inline void count_end(CounterBlock& c, const IoResult& r, bool reading) {
  switch (r.status) {
    case IoStatus::kOk:
    case IoStatus::kClosed:
      break;
    case IoStatus::kRetry:
      bump(reading ? c.errors_idle_timeout : c.errors_write);
      break;
    case IoStatus::kReset:
      bump(c.errors_reset);
      break;
    case IoStatus::kError:
      bump(reading ? c.errors_read : c.errors_write);
      break;
  }
}

// Writes what `out` holds; false (counted) if the connection failed.
template <class Stream>
bool flush_all(proto::OutQueue& out, Stream& stream, CounterBlock& c) {
  uint64_t written = 0;
  IoResult w = proto::flush(out, stream, &written);
  bump(c.bytes_out, written);
  if (!w.ok()) count_end(c, w, /*reading=*/false);
  return w.ok();
}

// A pool for servers without a backend: /app calls are answered 503.
struct NoBackend {
  template <class F>
  bool with_connection(F&&) {
    return false;
  }
};

// Reads parked files in place (blocking): for the models that do not
// offload (their protocols never park a file, but the code must exist).
struct InlineFiles {
  template <class Finish>
  bool load(const FileWait& w, Finish&& finish) {
    thread_local std::string buf;  // consumed by finish at once
    finish(read_file_here(w, &buf));
    return true;
  }
};

// A Stream whose reads can time out (kRetry): SO_RCVTIMEO, a fiber's
// deadline.
template <class S>
concept HasReadTimeout = requires(S& s, const S& cs) {
  { cs.read_timeout() } -> std::same_as<std::chrono::milliseconds>;
  s.set_read_timeout(std::chrono::milliseconds(1));
};

// Serves one connection to the end. `scratch` is the read buffer; it may be
// shared by every session of a thread, because the protocol consumes the
// bytes before the next read. An /app request is worked here, in the
// session's own thread or fiber (app_step.h): responses before it are sent
// first, and nothing more is read until it is answered.
// `files` loads a parked file GET: load(FileWait, finish) calls
// finish(FileRead) once the bytes are there (a fiber parks meanwhile) and
// returns true, or false if the server stops first (the session ends).
// Back-pressure (http.h): once the protocol holds input, nothing more is
// read until the queue is written out and what was held has been served.
// The head timeout (head_clock.h) bounds each read while a head is
// unfinished: when it runs out the client gets a 408 and the session ends.
template <class Stream, class Protocol, class Pool = NoBackend, class Files = InlineFiles>
void run_session(Stream& stream, Protocol& protocol, std::span<char> scratch, CounterBlock& c,
                 Pool* backend = nullptr, Files* files = nullptr) {
  proto::OutQueue out;
  HeadClock head;
  // The stream's own read timeout is the idle timeout; while a request head
  // is unfinished a read waits at most until the head's deadline.
  std::chrono::milliseconds idle{0};
  if constexpr (HasReadTimeout<Stream>) idle = stream.read_timeout();
  for (;;) {
    if constexpr (HasReadTimeout<Stream> && HasHeadTimeout<Protocol>) {
      stream.set_read_timeout(head.read_timeout(idle, HeadClock::Clock::now()));
    }
    IoResult r = stream.read(scratch);
    if (!r.ok()) {
      if constexpr (HasHeadTimeout<Protocol>) {
        if (r.status == IoStatus::kRetry && head.expired(HeadClock::Clock::now())) {
          protocol.on_head_timeout(out);
          if (flush_all(out, stream, c)) ::shutdown(stream.fd(), SHUT_WR);
          return;
        }
      }
      count_end(c, r, /*reading=*/true);
      return;
    }
    bump(c.bytes_in, r.bytes);
    protocol.on_input(std::string_view(scratch.data(), r.bytes), out);
    for (;;) {
      if constexpr (HasAppStep<Protocol>) {
        if (protocol.app_waiting()) {
          if (!flush_all(out, stream, c)) return;
          protocol.finish_app(perform_app(protocol.app(), backend, c), out);
          continue;
        }
      }
      if constexpr (HasFileStep<Protocol>) {
        if (protocol.file_waiting()) {
          auto finish = [&](FileRead read) { protocol.finish_file(read, out); };
          bool loaded = files != nullptr ? files->load(protocol.file_wait(), finish)
                                         : InlineFiles().load(protocol.file_wait(), finish);
          if (!loaded) return;
          continue;
        }
      }
      if (!flush_all(out, stream, c)) return;
      if (protocol.closing()) {
        // Send FIN after the response so the client reads it before EOF.
        ::shutdown(stream.fd(), SHUT_WR);
        return;
      }
      // Back-pressure: what the protocol held is served once the queue has
      // been written, before anything more is read.
      if (resume_held(protocol, out)) continue;
      break;
    }
    head.note(protocol);
  }
}

// A plain socket as a Stream: blocking for threads and processes. Its read
// timeout is SO_RCVTIMEO (set only when it changes).
class SocketStream {
 public:
  explicit SocketStream(int fd) : fd_(fd) {}
  int fd() const { return fd_; }
  IoResult read(std::span<char> into) { return io::read_some(fd_, into); }
  IoResult write(std::string_view bytes) { return io::write_some(fd_, bytes); }
  // A response head whose sendfile body follows (out_queue.h).
  IoResult write_more(std::string_view bytes) { return io::send_more(fd_, bytes); }
  IoResult sendfile(int file_fd, off_t* offset, std::size_t count) {
    return io::sendfile_some(fd_, file_fd, offset, count);
  }
  std::chrono::milliseconds read_timeout() const { return timeout_; }
  void set_read_timeout(std::chrono::milliseconds t) {
    if (t == timeout_) return;
    timeval tv{static_cast<time_t>(t.count() / 1000),
               static_cast<suseconds_t>((t.count() % 1000) * 1000)};
    // A failure keeps the old timeout: the head check then waits for the
    // next byte or the idle timeout.
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0) timeout_ = t;
  }

 private:
  int fd_;
  std::chrono::milliseconds timeout_{0};
};

}  // namespace cb
