// cli.h: the loadgen command line. One CLI11 option table gives both the
// parser and the usage text; quantities take the project's units ("10k",
// "30s", "64KiB", via cb::units).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "config.h"

namespace cb::loadgen {

struct CliOptions {
  LoadConfig config;
  std::string json_path;  // --json FILE
  std::string hgrm_path;  // --hgrm FILE
  bool progress = false;  // --progress: a live line on stderr
};

// What parse_cli decided.
struct CliOutcome {
  enum class Kind { kRun, kExit } kind = Kind::kRun;
  int exit_code = 0;    // for kExit: 0 after --help, 2 after bad input
  std::string message;  // for kExit: the help text (stdout) or the one-line error (stderr)
  CliOptions options;
};

// Never throws and never prints: main prints the message and exits.
CliOutcome parse_cli(int argc, const char* const* argv);

// "127.0.0.1:8080", "[::1]:7", "http://127.0.0.1:8080/index.html" into
// host, port, path; `is_http` says whether the http:// form was used.
struct Target {
  std::string host;
  uint16_t port = 0;
  std::string path;
  bool is_http = false;
};
Target parse_target(const std::string& text);

// Where --hgrm FILE puts class `index`'s histogram when there are 2+
// classes: ".classN" before the file name's extension ("run.hgrm" ->
// "run.class0.hgrm"), or at the end if it has none ("out" -> "out.class0").
std::string class_hgrm_path(const std::string& hgrm_path, std::size_t index);

}  // namespace cb::loadgen
