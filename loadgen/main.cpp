// main.cpp: the loadgen command: parse the options, run the load, print the
// wrk-style summary, write --json/--hgrm (and one .hgrm per request class).
// Exit 0 clean, 1 if the run saw errors (or failed), 2 on bad input.
// `loadgen --agent` is the remote agent (agent.h: JSON on stdin and
// stdout); `loadgen --version` prints the build's commit.
//
//   loadgen -c 100 -d 10s http://127.0.0.1:8080/index.html
//   loadgen -c 1k -R 50k --warmup 2s --json out.json 127.0.0.1:7000
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "agent.h"
#include "cli.h"
#include "common/shutdown.h"
#include "load.h"
#include "report.h"

namespace {

using namespace cb::loadgen;

// Runs the load on a second thread while this one redraws the progress line.
LoadResult run_with_progress(const LoadConfig& config, LoadControl& control) {
  LoadResult result;
  std::exception_ptr failure;
  std::atomic<bool> done{false};
  std::thread runner([&] {
    try {
      result = run_load(config, &control);
    } catch (...) {
      failure = std::current_exception();
    }
    done = true;
  });
  while (!done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::fprintf(stderr, "\r%s", format_progress(control.progress()).c_str());
  }
  std::fprintf(stderr, "\n");
  runner.join();
  if (failure) std::rethrow_exception(failure);
  return result;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write '" + path + "'");
}

// The total's histogram, and with 2+ request classes one file per class.
void write_hgrm(const std::string& path, const LoadResult& result) {
  write_file(path, result.corrected.to_hgrm());
  if (result.classes.size() < 2) return;
  for (std::size_t i = 0; i < result.classes.size(); ++i) {
    write_file(class_hgrm_path(path, i), result.classes[i].corrected.to_hgrm());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--agent") return run_agent(std::cin, STDIN_FILENO);
  if (argc == 2 && std::string(argv[1]) == "--version") {
    std::printf("loadgen %s (result schema %d)\n", build_version(), kSchemaVersion);
    return 0;
  }
  CliOutcome cli = parse_cli(argc, argv);
  if (cli.kind == CliOutcome::Kind::kExit) {
    if (cli.exit_code == 0) {
      std::fputs(cli.message.c_str(), stdout);
    } else {
      // One line, whatever the parser said.
      for (char& c : cli.message) c = (c == '\n') ? ' ' : c;
      std::fprintf(stderr, "loadgen: %s (see --help)\n", cli.message.c_str());
    }
    return cli.exit_code;
  }
  const CliOptions& opt = cli.options;
  try {
    cb::install_signal_handlers();  // SIGINT/SIGTERM end the run with a report
    LoadControl control(cb::stop_fd());
    LoadResult result =
        opt.progress ? run_with_progress(opt.config, control) : run_load(opt.config, &control);
    std::fputs(format_summary(result).c_str(), stdout);
    std::fflush(stdout);
    if (!opt.json_path.empty()) write_file(opt.json_path, result.to_json().dump(2) + "\n");
    if (!opt.hgrm_path.empty()) write_hgrm(opt.hgrm_path, result);
    return result.exit_code();
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    return 1;
  }
}
