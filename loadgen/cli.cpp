// cli.cpp: see cli.h.
#include "cli.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/units.h"

namespace cb::loadgen {
namespace {

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument(message);
}

// The option values as typed; converted once parsing succeeded.
struct RawOptions {
  std::string target;
  std::string threads = "1", connections = "10", duration = "10s", requests = "0", warmup = "0s";
  std::string rate = "0", pipeline = "1", proto, msg_size = "64", path, paths_file;
  std::string timeout = "10s", connect_timeout = "5s", connect_rate = "0", source_ips;
  std::string interval = "250ms";
  bool close = false;
  bool one_class = false;
};

// The option table: name, value kind (shown in the usage text), help.
void add_options(CLI::App& app, RawOptions& raw, CliOptions& out) {
  auto opt = [&app](const char* name, std::string& value, const char* kind, const char* help) {
    app.add_option(name, value, help)->type_name(kind);
  };
  opt("TARGET", raw.target, "", "HOST:PORT (echo) or http://HOST:PORT/PATH (http)");
  app.get_option("TARGET")->required();
  opt("-t,--threads", raw.threads, "N", "load threads, each with its own event loop (default 1)");
  opt("-c,--connections", raw.connections, "N", "connections in total, e.g. 10k (default 10)");
  opt("-d,--duration", raw.duration, "DURATION", "measured duration, e.g. 30s, 2m (default 10s)");
  opt("-n,--requests", raw.requests, "N", "stop after this many requests, e.g. 100k (0 = use -d)");
  opt("--warmup", raw.warmup, "DURATION",
      "load before measuring, not recorded, e.g. 5s (default 0)");
  opt("--interval", raw.interval, "DURATION",
      "time series: one entry per interval from the warm-up on (default 250ms, 0 = none)");
  opt("-R,--rate", raw.rate, "PER_S",
      "open loop: requests/s in total, e.g. 50k; latency counts from each request's intended "
      "send time (default 0 = closed loop)");
  opt("-p,--pipeline", raw.pipeline, "N", "requests in flight per connection (default 1)");
  opt("--proto", raw.proto, "echo|http", "default: http for http:// targets, else echo");
  opt("--msg-size", raw.msg_size, "SIZE", "echo: bytes per message, e.g. 64, 64KiB (default 64)");
  opt("--path", raw.path, "PATH", "http: path to GET (default: the TARGET's, else /)");
  opt("--paths", raw.paths_file, "FILE",
      "http: file of 'PATH [WEIGHT]' lines, GET at random by weight");
  app.add_flag("--close", raw.close, "http: one request per connection (Connection: close)");
  app.add_flag("--one-class", raw.one_class,
               "http: one latency class for all --paths (thousands of files) instead of one per path");
  opt("--timeout", raw.timeout, "DURATION",
      "per request; a timed-out request counts, its connection reopens (default 10s, 0 = none)");
  opt("--connect-timeout", raw.connect_timeout, "DURATION", "per connect attempt (default 5s)");
  opt("--connect-rate", raw.connect_rate, "PER_S",
      "connects per second at start, e.g. 1k (default 0 = all at once)");
  opt("--source-ips", raw.source_ips, "LIST",
      "bind across source addresses: 127.0.0.2-127.0.0.9 or a,b,c");
  opt("--json", out.json_path, "FILE",
      "write the whole result (config, counters, histograms) as JSON");
  opt("--hgrm", out.hgrm_path, "FILE",
      "write the corrected latency histogram as HdrHistogram .hgrm text; with 2+ --paths "
      "lines also one per path, FILE with .classN before the extension (N from 0, file order)");
  app.add_flag("--progress", out.progress, "print a live progress line on stderr");
}

template <class T>
T checked_int(const std::string& text, const char* what, uint64_t max) {
  uint64_t v = units::parse_count(text);
  if (v > max) fail(fmt::format("{} '{}' is too large (max {})", what, text, max));
  return static_cast<T>(v);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(fmt::format("cannot read paths file '{}'", path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void convert(const RawOptions& raw, const CLI::App& app, LoadConfig& c) {
  Target t = parse_target(raw.target);
  c.host = t.host;
  c.port = t.port;
  std::string proto = raw.proto.empty() ? (t.is_http ? "http" : "echo") : raw.proto;
  if (proto != "echo" && proto != "http")
    fail(fmt::format("--proto must be echo or http, not '{}'", proto));
  c.proto = proto == "http" ? Proto::kHttp : Proto::kEcho;
  c.threads = checked_int<int>(raw.threads, "threads", 1024);
  c.connections = checked_int<int>(raw.connections, "connections", 1'000'000);
  c.pipeline = checked_int<int>(raw.pipeline, "pipeline", 1'000'000);
  c.max_requests = units::parse_count(raw.requests);
  c.duration = units::parse_duration(raw.duration);
  // -n alone runs until the count is done; with -d too, whichever ends first.
  if (c.max_requests > 0 && app.count("--duration") == 0) c.duration = std::chrono::nanoseconds(0);
  c.warmup = units::parse_duration(raw.warmup);
  c.interval = units::parse_duration(raw.interval);
  c.rate_per_s = static_cast<double>(units::parse_count(raw.rate));
  c.msg_size = units::parse_size(raw.msg_size);
  c.close_after_request = raw.close;
  c.class_per_path = !raw.one_class;
  c.request_timeout = units::parse_duration(raw.timeout);
  c.connect_timeout = units::parse_duration(raw.connect_timeout);
  c.connect_rate_per_s = static_cast<double>(units::parse_count(raw.connect_rate));
  if (!raw.source_ips.empty()) c.source_ips = parse_source_ips(raw.source_ips);
  if (!raw.paths_file.empty()) {
    if (!raw.path.empty()) fail("give --path or --paths, not both");
    c.paths = parse_paths(read_file(raw.paths_file));
  } else {
    c.paths = {{!raw.path.empty() ? raw.path : (t.path.empty() ? "/" : t.path), 1}};
  }
  c.validate();
}

}  // namespace

Target parse_target(const std::string& text) {
  Target t;
  std::string rest = text;
  constexpr std::string_view kScheme = "http://";
  if (rest.rfind(kScheme, 0) == 0) {
    t.is_http = true;
    rest = rest.substr(kScheme.size());
    std::size_t slash = rest.find('/');
    if (slash != std::string::npos) {
      t.path = rest.substr(slash);
      rest = rest.substr(0, slash);
    }
  }
  std::string port_text;
  if (!rest.empty() && rest[0] == '[') {
    std::size_t close = rest.find(']');
    if (close == std::string::npos) fail(fmt::format("invalid target '{}'", text));
    t.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') fail(fmt::format("invalid target '{}'", text));
      port_text = rest.substr(close + 2);
    }
  } else {
    std::size_t colon = rest.rfind(':');
    t.host = rest.substr(0, colon);
    if (colon != std::string::npos) port_text = rest.substr(colon + 1);
  }
  if (port_text.empty()) {
    if (!t.is_http) fail(fmt::format("target '{}' needs a port (HOST:PORT)", text));
    port_text = "80";
  }
  uint64_t port = 0;
  try {
    port = units::parse_count(port_text);
  } catch (const std::invalid_argument&) {
    fail(fmt::format("invalid port in target '{}'", text));
  }
  if (port == 0 || port > 65535) fail(fmt::format("port in target '{}' must be 1..65535", text));
  t.port = static_cast<uint16_t>(port);
  if (t.host.empty()) fail(fmt::format("target '{}' has no host", text));
  return t;
}

std::string class_hgrm_path(const std::string& hgrm_path, std::size_t index) {
  std::string suffix = ".class" + std::to_string(index);
  std::size_t slash = hgrm_path.rfind('/');
  std::size_t name = slash == std::string::npos ? 0 : slash + 1;
  std::size_t dot = hgrm_path.rfind('.');
  // A dot that starts the name (".hgrm") is a hidden file's name, not an
  // extension.
  if (dot == std::string::npos || dot <= name) return hgrm_path + suffix;
  return hgrm_path.substr(0, dot) + suffix + hgrm_path.substr(dot);
}

CliOutcome parse_cli(int argc, const char* const* argv) {
  CliOutcome out;
  CLI::App app(
      "loadgen: a C10K load generator for echo and HTTP/1.1 servers, closed or open loop "
      "(coordinated omission corrected)",
      "loadgen");
  app.footer(
      "Also: loadgen --version (the build's commit); loadgen --agent (a remote agent: its whole "
      "configuration as JSON on stdin, its result JSON with the full histograms on stdout; "
      "README.md, 'Agent mode')");
  RawOptions raw;
  add_options(app, raw, out.options);
  try {
    app.parse(argc, argv);
    convert(raw, app, out.options.config);
  } catch (const CLI::CallForHelp&) {
    out.kind = CliOutcome::Kind::kExit;
    out.message = app.help();
  } catch (const CLI::ParseError& e) {
    out.kind = CliOutcome::Kind::kExit;
    out.exit_code = 2;
    out.message = e.what();
  } catch (const std::exception& e) {
    out.kind = CliOutcome::Kind::kExit;
    out.exit_code = 2;
    out.message = e.what();
  }
  return out;
}

}  // namespace cb::loadgen
