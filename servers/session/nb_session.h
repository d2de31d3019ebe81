// nb_session.h: one connection driven by readiness events instead of a
// blocking loop. Shared by the reactor variants and pool:ready, so they
// differ only in who waits for events and which thread runs the step.
//
// on_readable() reads, lets the protocol answer and writes what it can; it
// then says what the connection waits for next. While output is pending the
// connection stops reading (back-pressure: a client that does not read its
// responses cannot make the server buffer without bound).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include "common/counters.h"
#include "common/fd.h"
#include "common/io.h"
#include "protocol/out_queue.h"
#include "session/session.h"

namespace cb {

enum class Next { kRead, kWrite, kClose };

template <class Protocol>
class NbSession {
 public:
  NbSession(Fd fd, Protocol protocol) : fd_(std::move(fd)), protocol_(std::move(protocol)) {}

  int fd() const { return fd_.get(); }

  // Level-triggered pollers read once per event (another event follows if
  // more is queued, and the EAGAIN read is saved); edge-triggered ones must
  // read until EAGAIN.
  Next on_readable(std::span<char> scratch, CounterBlock& c, bool until_eagain) {
    for (;;) {
      IoResult r = io::read_some(fd_.get(), scratch);
      if (r.status == IoStatus::kRetry) return Next::kRead;
      if (!r.ok()) {
        count_end(c, r, /*reading=*/true);
        return Next::kClose;
      }
      bump(c.bytes_in, r.bytes);
      protocol_.on_input(std::string_view(scratch.data(), r.bytes), out_);
      Next next = on_writable(c);
      if (next != Next::kRead || !until_eagain) return next;
    }
  }

  Next on_writable(CounterBlock& c) {
    SocketStream stream(fd_.get());
    uint64_t written = 0;
    IoResult w = proto::flush(out_, stream, &written);
    bump(c.bytes_out, written);
    if (w.status == IoStatus::kRetry) return Next::kWrite;
    if (!w.ok()) {
      count_end(c, w, /*reading=*/false);
      return Next::kClose;
    }
    if (protocol_.closing()) {
      ::shutdown(fd_.get(), SHUT_WR);  // FIN after the last response
      return Next::kClose;
    }
    return Next::kRead;
  }

  bool output_pending() const { return !out_.empty(); }

 private:
  Fd fd_;
  Protocol protocol_;
  proto::OutQueue out_;
};

}  // namespace cb
