// main.cpp: bench_server, one binary for every concurrency model.
//
//   bench_server --model reactor:epoll --proto http --port 8080 --root ./www
//   bench_server --list-models [--json]
//   bench_server --print-stats /tmp/stats   (counters of a running server)
//
// Start-up is the same for every model: parse options, install signal
// handlers, map the counters, open the root and the listener, then hand over
// to the model's run function. Once listening, one line goes to stdout:
//   listening 127.0.0.1:PORT model=NAME:VARIANT proto=echo|http pid=PID
// and at exit the final counters as one JSON line:  counters {...}
// (harness/listening_line.h is the one parser of that line; keep the two in
// step). `--list-models --json` is the registry for other tools: an array of
// {name, variant, default, summary, supported, why_not}.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <memory>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/counters.h"
#include "common/cpu.h"
#include "common/shutdown.h"
#include "common/socket.h"
#include "common/status.h"
#include "common/units.h"
#include "models/model.h"
#include "protocol/http.h"

namespace cb {

namespace {

void print_models() {
  fmt::print("{:<10} {:<10} {:<8} {}\n", "MODEL", "VARIANT", "DEFAULT", "DESCRIPTION");
  for (const ModelEntry& e : model_registry()) {
    std::string why;
    bool ok = e.supported == nullptr || e.supported(&why);
    fmt::print("{:<10} {:<10} {:<8} {}{}\n", e.name, e.variant, e.is_default ? "yes" : "", e.summary,
               ok ? "" : " [unsupported here: " + why + "]");
  }
}

// The same registry as one JSON array, so tools read fields by name instead
// of scraping the table's columns.
void print_models_json() {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const ModelEntry& e : model_registry()) {
    std::string why;
    bool ok = e.supported == nullptr || e.supported(&why);
    out.push_back({{"name", e.name},
                   {"variant", e.variant},
                   {"default", e.is_default},
                   {"summary", e.summary},
                   {"app_wait", app_wait_name(e.app_wait)},
                   {"supported", ok},
                   {"why_not", ok ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(why)}});
  }
  fmt::print("{}\n", out.dump(2));
}

struct Options {
  ServerConfig config;
  std::string model_spec = "reactor";
  std::string proto = "echo";
  std::string stack_size = "64KiB";
  std::string idle_timeout = "0";
  std::string header_timeout = "30s";
  std::string backend;  // HOST:PORT of bench_backend, empty = none
  std::string stats_file;
  std::string print_stats;
  uint64_t crash_after = 0;  // debug, for the harness's crash test
  bool list_models = false;
  bool json = false;
  bool check_supported = false;
};

void add_options(CLI::App& app, Options& o) {
  app.add_option("--model", o.model_spec, "model[:variant], see --list-models")
      ->capture_default_str();
  app.add_option("--proto", o.proto, "protocol")->check(CLI::IsMember({"echo", "http"}))
      ->capture_default_str();
  app.add_option("--host", o.config.host, "address to listen on (numeric)")->capture_default_str();
  app.add_option("--port", o.config.port, "TCP port (0 = any free port)")->capture_default_str();
  app.add_option("--root", o.config.root, "directory served by --proto http")
      ->capture_default_str();
  app.add_option("--workers", o.config.workers,
                 "workers/threads for pool and prefork (0 = 4 x server CPUs)")
      ->check(CLI::Range(0, 100000))->capture_default_str();
  app.add_option("--stack-size", o.stack_size, "thread/fiber stack size (e.g. 64KiB)")
      ->capture_default_str();
  app.add_option("--idle-timeout", o.idle_timeout, "close idle connections after this (0 = never)")
      ->capture_default_str();
  app.add_option("--header-timeout", o.header_timeout,
                 "HTTP: answer 408 and close when a request head does not end this long "
                 "after its first byte (0 = never)")
      ->capture_default_str();
  app.add_option("--backend", o.backend,
                 "HOST:PORT of the backend service /app requests call (bench_backend)");
  app.add_option("--backend-conns", o.config.backend_conns,
                 "backend connections per process, shared by its workers")
      ->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--stats-file", o.stats_file,
                 "keep the counters in this file (shared memory) for live reading");
  app.add_option("--print-stats", o.print_stats, "print a running server's --stats-file as JSON");
  CLI::Option* list = app.add_flag("--list-models", o.list_models, "print the model registry and exit");
  app.add_flag("--json", o.json, "with --list-models: print it as a JSON array")->needs(list);
  // Hidden (empty group): a debug aid for the harness's crash test.
  app.add_option("--crash-after", o.crash_after, "abort() once N requests were served")->group("");
  app.add_flag("--supported", o.check_supported,
               "exit 0 if --model runs on this machine, 77 if not (test skip)");
}

// "127.0.0.1:9000" or "[::1]:9000" into the config; throws
// std::invalid_argument with the reason.
void parse_backend(const std::string& spec, ServerConfig* config) {
  auto colon = spec.rfind(':');
  std::string host = colon == std::string::npos ? "" : spec.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string port = colon == std::string::npos ? "" : spec.substr(colon + 1);
  bool digits = !port.empty() && port.size() <= 5 &&
                port.find_first_not_of("0123456789") == std::string::npos;
  if (host.empty() || !digits || std::stoul(port) == 0 || std::stoul(port) > 65535) {
    throw std::invalid_argument("--backend: expected HOST:PORT, got '" + spec + "'");
  }
  try {
    resolve_numeric(host, 1);
  } catch (const SysError&) {
    throw std::invalid_argument("--backend: '" + host + "' is not a numeric address");
  }
  config->backend_host = host;
  config->backend_port = static_cast<uint16_t>(std::stoul(port));
}

// Validates what CLI11 cannot; throws CLI::ValidationError (exit 2).
const ModelEntry& finish_config(Options& o) {
  const ModelEntry* entry = find_model(o.model_spec);
  if (entry == nullptr) {
    throw CLI::ValidationError("--model", "unknown model '" + o.model_spec + "' (see --list-models)");
  }
  o.config.model = entry->name;
  o.config.variant = entry->variant;
  o.config.proto = o.proto == "http" ? Proto::kHttp : Proto::kEcho;
  try {
    o.config.stack_size = units::parse_size(o.stack_size);
    o.config.idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        units::parse_duration(o.idle_timeout));
    std::chrono::nanoseconds header = units::parse_duration(o.header_timeout);
    o.config.header_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(header);
    if (header.count() > 0 && o.config.header_timeout.count() == 0) {
      throw std::invalid_argument("--header-timeout: '" + o.header_timeout +
                                  "' is shorter than 1 ms (0 turns it off)");
    }
    if (!o.backend.empty()) parse_backend(o.backend, &o.config);
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError(e.what());
  }
  o.config.server_cpus = allowed_cpu_count();
  return *entry;
}

// Debug aid (--crash-after): a detached thread that aborts the server once
// `after` requests were served, as a crashing model would, so the harness
// can test that a crash mid-run is detected and the matrix goes on. It
// gives up once stop is requested (the counters are unmapped at exit).
void start_crash_watchdog(const CounterBlock& counters, uint64_t after) {
  std::thread([&counters, after] {
    for (;;) {
      if (stop_requested()) return;
      if (counters.requests.load(std::memory_order_relaxed) >= after) std::abort();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }).detach();
}

int serve(const ModelEntry& entry, const Options& o) {
  std::string why;
  if (entry.supported != nullptr && !entry.supported(&why)) {
    fmt::print(stderr, "bench_server: {}:{} is not supported here: {}\n", entry.name,
               entry.variant, why);
    return 77;  // the conventional "skipped" exit status (automake, liburing)
  }
  install_signal_handlers();
  Counters counters(o.stats_file);
  std::unique_ptr<proto::FileRoot> root;
  if (o.config.proto == Proto::kHttp) root = std::make_unique<proto::FileRoot>(o.config.root);

  ServerContext ctx;
  ctx.config = o.config;
  ctx.counters = &counters;
  ctx.root = root.get();
  ListenOptions listen;
  listen.host = o.config.host;
  listen.port = o.config.port;
  listen.reuse_port = entry.per_cpu_listeners;
  listen.nonblocking = true;
  ctx.listener = listen_tcp(listen);

  fmt::print("listening {}:{} model={}:{} proto={} pid={}\n", o.config.host,
             local_port(ctx.listener.get()), entry.name, entry.variant, o.proto, ::getpid());
  std::fflush(stdout);
  counters->ready.store(1);
  if (o.crash_after > 0) start_crash_watchdog(counters.block(), o.crash_after);
  int code = entry.run(ctx);
  fmt::print("counters {}\n", counters.to_json());
  std::fflush(stdout);
  return code;
}

}  // namespace
}  // namespace cb

int main(int argc, char** argv) {
  CLI::App app{"bench_server: one TCP server, many concurrency models"};
  cb::Options options;
  cb::add_options(app, options);
  const cb::ModelEntry* entry = nullptr;
  try {
    app.parse(argc, argv);
    if (options.list_models) {
      if (options.json) {
        cb::print_models_json();
      } else {
        cb::print_models();
      }
      return 0;
    }
    if (!options.print_stats.empty()) {
      fmt::print("{}\n", cb::CounterReader(options.print_stats).to_json());
      return 0;
    }
    entry = &cb::finish_config(options);
    if (options.check_supported) {
      return entry->supported == nullptr || entry->supported(nullptr) ? 0 : 77;
    }
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "bench_server: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_server: {}\n", e.what());
    return 2;
  }
  try {
    return cb::serve(*entry, options);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_server: {}\n", e.what());
    return 1;
  }
}
