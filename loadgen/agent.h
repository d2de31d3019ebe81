// agent.h: `loadgen --agent`, the load generator as a remote agent, and the
// two things its driver (the harness, harness/remote_load.h) needs to use
// what agents send back: the result read into a LoadResult, and the exact
// merge of several agents' results.
//
// The agent speaks JSON documents on stdin and one JSON object per line on
// stdout; progress goes to stderr. On start it writes a hello:
//   {"agent":"loadgen","version":V,"schema_version":1,"host":H,"pid":P,"clock_unix_ns":T}
// then reads documents from stdin:
//   {"ping":K}                       -> {"pong":K,"clock_unix_ns":T} (the driver's clock offset)
//   {"config":{...},"start_unix_ns":S} -> the run
// "config" is the "config" object of loadgen's result JSON (README.md), read
// by config_from_json; "start_unix_ns" (optional) is the common start in
// this host's CLOCK_REALTIME, at most kMaxStartAhead ahead. The run writes
// the result JSON (to_json: counters, latency, the full histograms with
// their exact buckets) plus "agent": {version, host, start_unix_ns,
// started_unix_ns, start_late_ms} as one line, and exits 0. A bad document
// or a failed run writes {"error":"..."} and exits 2 (bad input) or 1.
// Stdin that becomes readable during the run (its end: the driver closed it
// or its transport died) stops the run early, as SIGTERM does; the result
// is still written.
#pragma once

#include <cstdint>
#include <istream>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "load.h"

namespace cb::loadgen {

// The build's identity: the source tree's commit (with "-dirty" when it had
// uncommitted changes) at build time; "unknown" without git.
const char* build_version();

// CLOCK_REALTIME in ns: the clock of hellos, pongs and start instants.
int64_t unix_time_ns();

// The agent: returns the process's exit status.
int run_agent(std::istream& in, int in_fd);

// How far ahead a start instant may lie (a wrong clock, not a plan).
inline constexpr int64_t kMaxStartAheadNs = 120'000'000'000;

// An agent's result document (LoadResult::to_json) read back: config,
// counters, histograms (exact), classes, fairness, CPU, window. The time
// series and the errnos of first errors are not carried. Throws
// std::invalid_argument when the document is malformed.
LoadResult result_from_json(const nlohmann::json& doc);

// Several agents' results as one: counters and the fairness sums added,
// histograms merged bucket by bucket (classes too; the agents must have the
// same request classes), connections and rate summed, the window the
// longest of theirs, CPU summed over all their usable CPUs, saturated when
// any agent was. Throws std::invalid_argument on no parts or classes that
// differ.
LoadResult merge_results(const std::vector<LoadResult>& parts);

}  // namespace cb::loadgen
