// listening_line.h: the one definition of the line bench_server prints on
// stdout once it accepts connections (servers/main.cpp):
//
//   listening HOST:PORT model=NAME:VARIANT proto=echo|http pid=PID
//
// Everything that starts a server on --port 0 learns the port from this
// line, so its format lives here once: the harness and the tests parse it
// with these functions, and scripts use harness/server_lib.sh, whose
// cb_listening_port follows the same rules. Header-only (the target
// cb_listening_line) so test code can use it without linking the harness.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cb::listening {

inline constexpr std::string_view kPrefix = "listening ";

struct Line {
  std::string host;
  uint16_t port = 0;
  std::string model;    // "reactor:epoll"; empty if the line has no model=
  std::string proto;    // "echo" or "http"; empty if absent
  long pid = 0;         // 0 if absent
};

// Parses one line (without its newline). The address is required; the
// key=value fields after it are optional, and unknown keys are ignored so
// the server may add fields without breaking its readers.
inline std::optional<Line> parse(std::string_view line) {
  if (line.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  line.remove_prefix(kPrefix.size());
  std::size_t end = line.find(' ');
  std::string_view addr = line.substr(0, end);
  std::size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  Line out;
  out.host = std::string(addr.substr(0, colon));
  std::string_view port = addr.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  out.port = static_cast<uint16_t>(value);
  while (end != std::string_view::npos) {
    line.remove_prefix(end + 1);
    end = line.find(' ');
    std::string_view field = line.substr(0, end);
    std::size_t eq = field.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = field.substr(0, eq), val = field.substr(eq + 1);
    if (key == "model") out.model = std::string(val);
    if (key == "proto") out.proto = std::string(val);
    if (key == "pid") std::from_chars(val.data(), val.data() + val.size(), out.pid);
  }
  return out;
}

// Finds the first complete (newline-terminated) listening line in a
// server's output so far; a line still being written is not taken.
inline std::optional<Line> find(std::string_view output) {
  std::size_t start = 0;
  while (start < output.size()) {
    std::size_t eol = output.find('\n', start);
    if (eol == std::string_view::npos) return std::nullopt;
    std::string_view line = output.substr(start, eol - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (auto parsed = parse(line)) return parsed;
    start = eol + 1;
  }
  return std::nullopt;
}

}  // namespace cb::listening
