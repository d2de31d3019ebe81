// model.h: the registry of concurrency models.
//
// A model is one function, `int run(ServerContext&)` (session/context.h),
// that serves until cb::stop_requested() and returns an exit code.
// Everything else (sockets, accepting, protocols, counters, sessions) is
// shared, so models differ only in how they schedule connections. The
// registry (registry.cpp) maps "name:variant" to that function; main picks
// one entry once.
#pragma once

#include <span>
#include <string>

#include "session/context.h"

namespace cb {

using ModelRun = int (*)(ServerContext&);
// why_not may be nullptr when only the answer matters.
using ModelSupported = bool (*)(std::string* why_not);

// What an /app request waiting on the backend holds up (the model's
// Little's-law concurrency): its own connection's thread, process, fiber or
// continuation (so C connections wait at once), or one of a fixed set of W
// workers (so at most W wait at once, whatever C is), or the one loop that
// serves everyone (one at a time).
enum class AppWait { kConnection, kWorker, kLoop };
const char* app_wait_name(AppWait w);

struct ModelEntry {
  const char* name;
  const char* variant;
  bool is_default;  // the variant "NAME" alone selects
  bool per_cpu_listeners;  // opens more SO_REUSEPORT listeners on the same port
  AppWait app_wait;
  const char* summary;
  ModelRun run;
  ModelSupported supported;  // nullptr = always supported
};

std::span<const ModelEntry> model_registry();
// "reactor" or "reactor:epoll-et"; nullptr if unknown.
const ModelEntry* find_model(const std::string& spec);

}  // namespace cb
