// app.h: the service handler's request, `GET /app?cpu_us=C&calls=N&
// delay_us=D&bytes=B` on the HTTP protocol. The handler makes N sequential
// calls to the backend service (each answered after D µs), then burns C µs
// of its thread's CPU, then answers with a body of B deterministic bytes.
// The protocol only parses and answers; the calls and the CPU work are the
// session's (session/app_step.h), so every model runs them its own way.
//
// Every parameter is optional (0 by default), a plain decimal number within
// its bound; anything else (an unknown or repeated name, an empty pair, a
// sign, a percent-escape, a value too large) is a 400.
#pragma once

#include <cstdint>
#include <string_view>

#include "protocol/backend_frame.h"

namespace cb::proto {

struct AppParams {
  uint32_t cpu_us = 0;    // CPU burned per request, on the thread's CPU clock
  uint32_t calls = 0;     // sequential backend calls
  uint32_t delay_us = 0;  // the backend's delay per call
  uint32_t bytes = 0;     // response body size
};

// 1 s of CPU per request: far beyond any handler a benchmark models, and a
// bound on how long one request can hold a thread.
inline constexpr uint32_t kMaxAppCpuUs = 1'000'000;
// 100 calls per request: a chatty handler, not an unbounded one.
inline constexpr uint32_t kMaxAppCalls = 100;
inline constexpr uint32_t kMaxAppDelayUs = kMaxDelayUs;  // the backend's own bound
// The body is sent from the backend's content (no copy is made per size).
inline constexpr uint32_t kMaxAppBytes = kMaxReplyBytes;
// What each backend call asks the backend to send back: a small row.
inline constexpr uint32_t kAppReplyBytes = 64;

// The query string (after '?', may be empty). False: a 400.
bool parse_app_query(std::string_view query, AppParams* out);

// How the session's work for one /app request ended.
enum class AppOutcome {
  kOk,            // every call answered: 200 with the body
  kNoBackend,     // calls asked, but the server has no --backend: 503
  kBackendFailed  // a call failed (connect, I/O, a wrong reply): 502
};

}  // namespace cb::proto
