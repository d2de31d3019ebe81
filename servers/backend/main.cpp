// main.cpp: bench_backend, the delay service that the servers' /app handlers
// call as their backend (framing and rules: servers/backend/README.md).
//
//   bench_backend --port 9000
//   bench_backend --host ::1 --port 0     (0 = any free port)
//
// Once listening, one line goes to stdout:
//   listening HOST:PORT backend pid=PID
// SIGTERM or SIGINT stops it (exit 0), and the final counters follow as one
// JSON line:  counters {"requests":N,"replies":N,...}
// Bad options: a one-line message on stderr, exit 2.
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "backend/delay_service.h"
#include "common/shutdown.h"
#include "common/socket.h"
#include "common/status.h"

namespace cb::backend {
namespace {

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
};

// A host that is not a numeric address is bad input (exit 2), not a
// failure to start (exit 1).
std::string check_numeric_host(const std::string& host) {
  try {
    (void)resolve_numeric(host, 0);
    return "";
  } catch (const SysError&) {
    return "not a numeric IPv4 or IPv6 address: " + host;
  }
}

void add_options(CLI::App& app, Options& o) {
  app.add_option("--host", o.host, "address to listen on (numeric)")
      ->check(CLI::Validator(check_numeric_host, "IP"))
      ->capture_default_str();
  app.add_option("--port", o.port, "TCP port (0 = any free port)")->capture_default_str();
}

int serve(const Options& o) {
  install_signal_handlers();
  ListenOptions listen;
  listen.host = o.host;
  listen.port = o.port;
  listen.nonblocking = true;
  Fd listener = listen_tcp(listen);
  Counters counters;
  DelayService service(listener.get(), counters);
  fmt::print("listening {}:{} backend pid={}\n", o.host, local_port(listener.get()), ::getpid());
  std::fflush(stdout);
  service.run();
  fmt::print("counters {}\n", counters.to_json());
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace cb::backend

int main(int argc, char** argv) {
  CLI::App app{"bench_backend: answers each request frame after the delay it names"};
  cb::backend::Options options;
  cb::backend::add_options(app, options);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "bench_backend: {}\n", e.what());
    return 2;
  }
  try {
    return cb::backend::serve(options);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_backend: {}\n", e.what());
    return 1;
  }
}
