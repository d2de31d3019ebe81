// model.h: what every concurrency model receives and the registry of models.
//
// A model is one function, `int run(ServerContext&)`, that serves until
// cb::stop_requested() and returns an exit code. Everything else (sockets,
// protocols, counters, sessions) is shared, so models differ only in how
// they schedule connections. The registry (registry.cpp) maps
// "name:variant" to that function; main picks one entry once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "common/counters.h"
#include "common/fd.h"
#include "protocol/echo.h"
#include "protocol/http.h"

namespace cb {

enum class Proto { kEcho, kHttp };

struct ServerConfig {
  std::string model = "reactor";
  std::string variant;  // empty = the model's default
  Proto proto = Proto::kEcho;
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string root = ".";
  int workers = 0;                  // 0 = the model's default
  std::size_t stack_size = 64 * 1024;
  std::chrono::milliseconds idle_timeout{0};  // 0 = never
  int server_cpus = 1;              // CPUs in this process's affinity mask
};

struct ServerContext {
  ServerConfig config;
  Counters* counters = nullptr;
  const proto::FileRoot* root = nullptr;  // set for --proto http
  Fd listener;  // bound and listening (blocking) before the model starts

  CounterBlock& stats() { return counters->block(); }
  // A further listener on the same address with SO_REUSEPORT, for models
  // that run one accept queue per CPU. The first listener was opened with
  // SO_REUSEPORT too, so these join its group.
  Fd open_reuseport_listener(bool nonblocking) const;
};

using ModelRun = int (*)(ServerContext&);
// why_not may be nullptr when only the answer matters.
using ModelSupported = bool (*)(std::string* why_not);

struct ModelEntry {
  const char* name;
  const char* variant;
  bool is_default;  // the variant "NAME" alone selects
  bool per_cpu_listeners;  // opens more SO_REUSEPORT listeners on the same port
  const char* summary;
  ModelRun run;
  ModelSupported supported;  // nullptr = always supported
};

// For the variants with one worker thread per CPU: no worker serves before
// every worker is set up (poller, timers, listener registered), so a client
// that got an answer knows the server holds all its descriptors. Each worker
// holds an Arrival; one whose set-up throws still gives up its place.
class SetUpArrival {
 public:
  explicit SetUpArrival(std::latch* all_set_up) : latch_(all_set_up) {}
  SetUpArrival(const SetUpArrival&) = delete;
  SetUpArrival& operator=(const SetUpArrival&) = delete;
  ~SetUpArrival() {
    if (latch_ != nullptr) latch_->count_down();
  }
  // Set up: wait for the others (once; nothing to wait for without a latch).
  void wait_for_all() {
    if (latch_ != nullptr) std::exchange(latch_, nullptr)->arrive_and_wait();
  }

 private:
  std::latch* latch_;
};

std::span<const ModelEntry> model_registry();
// "reactor" or "reactor:epoll-et"; nullptr if unknown.
const ModelEntry* find_model(const std::string& spec);

// Runs `body` with the protocol type chosen once from the config, so the
// per-connection code is concrete (no virtual call per I/O):
//   with_protocol(ctx, [&]<class P>(ProtoTag<P>) { ... P p = make_protocol<P>(ctx); });
template <class P>
struct ProtoTag {};

template <class Body>
int with_protocol(ServerContext& ctx, Body&& body) {
  if (ctx.config.proto == Proto::kEcho) return body(ProtoTag<proto::EchoProtocol>{});
  return body(ProtoTag<proto::HttpProtocol>{});
}

}  // namespace cb
