// nb_session.h: one connection driven by readiness events instead of a
// blocking loop. Shared by the reactor variants and pool:ready, so they
// differ only in who waits for events and which thread runs the step.
//
// on_readable() reads, lets the protocol answer and writes what it can; it
// then says what the connection waits for next. While output is pending the
// connection stops reading, and once the protocol holds input back (its
// output limit, http.h) what it held is served only after the queue was
// written (back-pressure: a client that does not read its responses cannot
// make the server buffer without bound).
// The head timeout (head_clock.h): head_due() says when the unfinished
// request head runs out of time; the model's timer (or a byte arriving
// after it) calls on_head_timeout(), which answers 408 and closes.
//
// An /app request (app_step.h) is handed to the model's Runner once the
// responses before it are written:
//   std::optional<proto::AppOutcome> start(const proto::AppParams&, Session&)
// A blocking runner (pool:ready) does the work and returns its outcome; a
// non-blocking one (the reactor's backend mux) returns nullopt, the session
// says kWaitApp, and the runner later calls resume_app() with the outcome.
// A parked file GET (file_step.h, offloading models only) goes the same way
// through the runner's optional
//   std::optional<FileRead> start_file(const FileWait&, Session&)
// (nullopt: a helper reads it, kWaitFile, then resume_file()); a runner
// without one reads the file in place.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "common/counters.h"
#include "common/fd.h"
#include "common/io.h"
#include "protocol/out_queue.h"
#include "session/app_step.h"
#include "session/file_step.h"
#include "session/head_clock.h"
#include "session/session.h"

namespace cb {

enum class Next { kRead, kWrite, kClose, kWaitApp, kWaitFile };

template <class Protocol>
class NbSession {
 public:
  NbSession(Fd fd, Protocol protocol) : fd_(std::move(fd)), protocol_(std::move(protocol)) {}

  int fd() const { return fd_.get(); }

  // Level-triggered pollers read once per event (another event follows if
  // more is queued, and the EAGAIN read is saved); edge-triggered ones must
  // read until EAGAIN.
  template <class Runner>
  Next on_readable(std::span<char> scratch, CounterBlock& c, bool until_eagain, Runner& runner) {
    if (head_.expired(HeadClock::Clock::now())) return on_head_timeout(c);
    for (;;) {
      IoResult r = io::read_some(fd_.get(), scratch);
      if (r.status == IoStatus::kRetry) return Next::kRead;
      if (!r.ok()) {
        count_end(c, r, /*reading=*/true);
        return Next::kClose;
      }
      bump(c.bytes_in, r.bytes);
      protocol_.on_input(std::string_view(scratch.data(), r.bytes), out_);
      Next next = on_writable(c, runner);
      if (next != Next::kRead || !until_eagain) return next;
    }
  }

  // Writes what is queued; then starts a waiting /app request, or closes.
  // The head clock follows the protocol's state after every step.
  template <class Runner>
  Next on_writable(CounterBlock& c, Runner& runner) {
    Next next = step(c, runner);
    head_.note(protocol_);
    return next;
  }

  // The runner's answer to a request it took without one (kWaitApp).
  template <class Runner>
  Next resume_app(proto::AppOutcome outcome, CounterBlock& c, Runner& runner) {
    if constexpr (HasAppStep<Protocol>) protocol_.finish_app(outcome, out_);
    return on_writable(c, runner);
  }

  // The helper's answer to a file request the runner handed off (kWaitFile).
  template <class Runner>
  Next resume_file(FileRead read, CounterBlock& c, Runner& runner) {
    if constexpr (HasFileStep<Protocol>) protocol_.finish_file(read, out_);
    return on_writable(c, runner);
  }

  bool output_pending() const { return !out_.empty(); }

  // The unfinished request head's deadline, while one is pending.
  bool head_running() const { return head_.running(); }
  HeadClock::Clock::time_point head_due() const { return head_.due(); }
  bool head_expired(HeadClock::Clock::time_point now) const { return head_.expired(now); }
  // The head timeout ran out: a 408 (written if the socket takes it at
  // once), then close.
  Next on_head_timeout(CounterBlock& c) {
    if constexpr (HasHeadTimeout<Protocol>) {
      protocol_.on_head_timeout(out_);
      if (write_out(c) == Next::kRead) ::shutdown(fd_.get(), SHUT_WR);
    }
    return Next::kClose;
  }

 private:
  template <class Runner>
  Next step(CounterBlock& c, Runner& runner) {
    for (;;) {
      Next next = write_out(c);
      if (next != Next::kRead) return next;
      if constexpr (HasAppStep<Protocol>) {
        if (protocol_.app_waiting()) {
          std::optional<proto::AppOutcome> outcome = runner.start(protocol_.app(), *this);
          if (!outcome) return Next::kWaitApp;
          protocol_.finish_app(*outcome, out_);
          continue;
        }
      }
      if constexpr (HasFileStep<Protocol>) {
        if (protocol_.file_waiting()) {
          std::optional<FileRead> read = start_file(runner);
          if (!read) return Next::kWaitFile;
          protocol_.finish_file(*read, out_);
          continue;
        }
      }
      if (protocol_.closing()) {
        ::shutdown(fd_.get(), SHUT_WR);  // FIN after the last response
        return Next::kClose;
      }
      if (resume_held(protocol_, out_)) continue;
      return Next::kRead;
    }
  }

  template <class Runner>
  std::optional<FileRead> start_file(Runner& runner) {
    FileWait w = protocol_.file_wait();
    if constexpr (requires { runner.start_file(w, *this); }) {
      return runner.start_file(w, *this);
    } else {
      thread_local std::string buf;  // consumed by finish_file at once
      return read_file_here(w, &buf);
    }
  }

  Next write_out(CounterBlock& c) {
    SocketStream stream(fd_.get());
    uint64_t written = 0;
    IoResult w = proto::flush(out_, stream, &written);
    bump(c.bytes_out, written);
    if (w.status == IoStatus::kRetry) return Next::kWrite;
    if (!w.ok()) {
      count_end(c, w, /*reading=*/false);
      return Next::kClose;
    }
    return Next::kRead;
  }

  Fd fd_;
  Protocol protocol_;
  proto::OutQueue out_;
  HeadClock head_;
};

// The runner of the models whose step may block (pool:ready's workers): the
// step does the work itself, on the borrowed connection of a pool (nullptr
// when the server has no backend).
template <class Pool>
class BlockingAppRunner {
 public:
  BlockingAppRunner(Pool* pool, CounterBlock& c) : pool_(pool), counters_(&c) {}
  template <class Session>
  std::optional<proto::AppOutcome> start(const proto::AppParams& p, Session&) {
    return perform_app(p, pool_, *counters_);
  }

 private:
  Pool* pool_;
  CounterBlock* counters_;
};

}  // namespace cb
