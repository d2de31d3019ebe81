// app_step.h: the work of one GET /app request (protocol/app.h), written
// once for every model: `calls` sequential backend calls, then `cpu_us` of
// CPU. What differs between models is only how a call waits; that is the
// Stream (a blocking socket, a fiber socket that parks) and the pool the
// connection comes from (a blocking checkout, a parking one). The reactor's
// non-blocking continuation is session/backend_mux.h.
#pragma once

#include <cerrno>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "common/counters.h"
#include "common/io.h"
#include "protocol/app.h"
#include "protocol/backend_frame.h"
#include "protocol/out_queue.h"

namespace cb {

// Burns `us` of the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so
// time the thread spends preempted does not count as work done.
void burn_cpu(std::chrono::microseconds us);

// Counts a failed call by its cause. A call cut short because the server is
// stopping (a parked fiber woken with ECANCELED) is not the backend's fault
// and is not counted.
inline void count_backend_failure(CounterBlock& c, const IoResult& r) {
  if (r.status == IoStatus::kClosed && r.error == ECANCELED) return;
  bump(r.status == IoStatus::kOk ? c.backend_errors_reply : c.backend_errors_io);
}

// One call on a connection of our own: send the frame, read the reply whole
// (kAppReplyBytes of content), check it. False on any failure, counted.
//   Stream: IoResult read(std::span<char>); IoResult write(std::string_view);
template <class Stream>
bool backend_call(Stream& stream, uint32_t delay_us, uint32_t id, CounterBlock& c) {
  auto frame = proto::encode_request({delay_us, proto::kAppReplyBytes, id});
  std::string_view rest(frame.data(), frame.size());
  while (!rest.empty()) {
    IoResult w = stream.write(rest);
    if (!w.ok()) return count_backend_failure(c, w), false;
    rest.remove_prefix(w.bytes);
  }
  proto::ReplyReader reader;
  reader.expect(id, proto::kAppReplyBytes);
  char buf[proto::kReplyHeaderBytes + proto::kAppReplyBytes];
  for (;;) {
    IoResult r = stream.read(std::span<char>(buf));
    if (!r.ok()) return count_backend_failure(c, r), false;
    std::string_view got(buf, r.bytes);
    proto::ReplyStatus s = reader.feed(got);
    // Bytes beyond the reply cannot come on a connection with one call out.
    if (s == proto::ReplyStatus::kError || !got.empty()) {
      return count_backend_failure(c, {IoStatus::kOk, 0, 0}), false;
    }
    if (s == proto::ReplyStatus::kComplete) {
      bump(c.backend_calls);
      return true;
    }
  }
}

// The whole /app step for the blocking-style models. `Pool` lends a
// connection: `template <class F> bool with_connection(F f)` runs f(Stream&)
// on one (false if none could be had: counted by the pool). `pool` is
// nullptr when the server has no backend.
template <class Pool>
proto::AppOutcome perform_app(const proto::AppParams& p, Pool* pool, CounterBlock& c) {
  if (p.calls > 0) {
    if (pool == nullptr) {
      bump(c.backend_unconfigured);
      return proto::AppOutcome::kNoBackend;
    }
    bool ok = pool->with_connection([&](auto& stream) {
      for (uint32_t i = 0; i < p.calls; ++i) {
        if (!backend_call(stream, p.delay_us, i, c)) return false;
      }
      return true;
    });
    if (!ok) return proto::AppOutcome::kBackendFailed;
  }
  burn_cpu(std::chrono::microseconds(p.cpu_us));
  return proto::AppOutcome::kOk;
}

// Whether protocol P can park a request for the session's work (HTTP can,
// echo cannot): the session loops compile the step only where it exists.
template <class P>
concept HasAppStep = requires(P& p, proto::OutQueue& out) {
  { p.app_waiting() } -> std::same_as<bool>;
  p.finish_app(proto::AppOutcome::kOk, out);
};

}  // namespace cb
