// context.h: the "context" block of results.json: where and how the numbers
// were taken (machine, kernel, limits, build, git, command line) and a short
// calibration of this machine, so results from different machines can be
// read side by side.
//
// Calibration (about a second in all), each the median of several batches:
//  * syscall_ns: one getppid(2) through syscall(2), so no libc caching.
//  * loopback_rtt_*_us: a 1-byte TCP ping-pong over 127.0.0.1 with
//    TCP_NODELAY; both threads on the first server CPU, then one on the
//    first server CPU and one on the first client CPU (null when those are
//    the same CPU).
//  * thread_switch_ns: two threads on one CPU hand a token back and forth
//    with futex wait/wake; each hand-over is one switch.
//  * fiber_switch_ns: cb::fiber::switch_context between a thread's stack
//    and a fiber stack (the fiber model's own switch), per switch.
//  * disk_random_read_4k_us (median) and _p90_us: O_DIRECT 4 KiB reads at
//    random offsets of a file on the data sets' disk, one at a time; only
//    when the matrix has disk workloads (set by the caller).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/cpu.h"  // allowed_cpus, pin_current_thread

namespace cb::harness {

struct Calibration {
  std::optional<double> syscall_ns;
  std::optional<double> loopback_rtt_same_cpu_us;
  std::optional<double> loopback_rtt_cross_cpu_us;
  std::optional<double> thread_switch_ns;
  std::optional<double> fiber_switch_ns;
  // Disk workloads only (dataset.h, measure_disk_read_latency).
  std::optional<double> disk_random_read_4k_us;
  std::optional<double> disk_random_read_4k_p90_us;
};

Calibration calibrate(const std::vector<int>& server_cpus, const std::vector<int>& client_cpus);

struct ContextInputs {
  std::string date_utc;  // ISO 8601
  std::vector<int> server_cpus;
  std::vector<int> client_cpus;
  std::string command;
  Calibration calibration;
  std::vector<int> backend_cpus;  // where bench_backend runs (service workloads)
};

// Every key of results/README.md's context table, in its order.
nlohmann::ordered_json make_context(const ContextInputs& in);

// "0,2-3" -> {0, 2, 3}; throws std::invalid_argument.
std::vector<int> parse_cpu_list(const std::string& text);

// Shell-quotes argv into one line (for context.command).
std::string quote_command(int argc, char** argv);

}  // namespace cb::harness
