// context.h: what every concurrency model receives (the configuration, the
// counters, the served root, the listener) and how a connection's protocol
// state is made from it. It sits in the session layer, below the models, so
// shared session code never reaches up into models/ (docs/ARCHITECTURE.md
// draws the layers).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/counters.h"
#include "common/fd.h"
#include "protocol/echo.h"
#include "protocol/http.h"

namespace cb {

enum class Proto { kEcho, kHttp };

// The smallest stack a connection's thread or fiber may get, whatever
// --stack-size says. The session loop, the protocol and libc fit in 16 KiB;
// a pthread also keeps its TLS and descriptor at the top of its stack, hence
// 32 KiB. Sanitizer runtimes need far deeper stacks than the code itself.
#if defined(CB_ASAN) || defined(CB_TSAN)
inline constexpr std::size_t kMinStackBytes = 1024 * 1024;
#else
inline constexpr std::size_t kMinStackBytes = 32 * 1024;
#endif

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
  // HTTP: a request head must end this long after its first byte, or the
  // connection gets a 408 and is closed (nginx's client_header_timeout).
  // On by default, so a client that never finishes its head (HTTP/0.9, TLS
  // by mistake, slowloris) cannot hold a connection, thread or process for
  // ever; 0 = never.
  std::chrono::milliseconds header_timeout{30000};
  int server_cpus = 1;              // CPUs in this process's affinity mask
  // The backend service that /app requests call (bench_backend); port 0 =
  // none configured: such calls are answered 503 and counted.
  std::string backend_host = "127.0.0.1";
  uint16_t backend_port = 0;
  // At most this many backend connections per process (a service's DB pool):
  // with 10,000 clients it keeps the server within its descriptor limit.
  int backend_conns = 1024;

  // Threads of the per-CPU models (reactor:multi, fiber:multi, prefork
  // processes): --workers, else one per server CPU.
  int per_cpu_workers() const { return workers > 0 ? workers : server_cpus; }
  // Workers of a blocking pool (pool:*): --workers, else 4 per server CPU, so
  // a worker blocked in I/O still leaves others to run on each CPU.
  int pool_workers() const { return workers > 0 ? workers : 4 * server_cpus; }
  // --stack-size, raised to what a connection needs at least.
  std::size_t stack_bytes() const { return std::max(stack_size, kMinStackBytes); }
  bool has_backend() const { return backend_port != 0; }
  // Each of n workers that hold backend connections of their own gets an
  // equal share of the limit, at least one.
  int backend_conns_per(int n) const { return std::max(1, backend_conns / std::max(1, n)); }
};

struct ServerContext {
  ServerConfig config;
  Counters* counters = nullptr;
  const proto::FileRoot* root = nullptr;  // set for --proto http
  Fd listener;  // bound and listening (non-blocking) before the model starts

  CounterBlock& stats() { return counters->block(); }
  // A further listener on the same address with SO_REUSEPORT, for models
  // that run one accept queue per CPU. The first listener was opened with
  // SO_REUSEPORT too, so these join its group.
  Fd open_reuseport_listener(bool nonblocking) const;
};

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

// A connection's protocol state, built the same way for every model.
template <class P>
P make_protocol(ServerContext& ctx);

template <>
inline proto::EchoProtocol make_protocol<proto::EchoProtocol>(ServerContext& ctx) {
  return proto::EchoProtocol(ctx.stats());
}

template <>
inline proto::HttpProtocol make_protocol<proto::HttpProtocol>(ServerContext& ctx) {
  proto::HttpProtocol p(*ctx.root, ctx.stats());
  p.set_head_timeout(ctx.config.header_timeout);
  return p;
}

}  // namespace cb
