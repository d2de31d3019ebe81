// remote_load.h: one run's load from client hosts (--client-hosts): a
// `loadgen --agent` (loadgen/agent.h) on each host, started through the
// transport (client_hosts.h), instead of the load generator in the harness.
//
//   1. start every agent (/bin/sh -c TRANSPORT... in a process group of its
//      own, killed with the harness); read each one's hello within
//      kHelloTimeout and refuse a loadgen whose build differs from the
//      harness's (loadgen::build_version());
//   2. measure each host's clock offset: kPings pings, the offset of the one
//      with the shortest round trip (agent clock - the midpoint of ours);
//   3. split the load (split_load) and send each agent its share with one
//      start instant in its own clock: every agent opens its connections at
//      the same moment, give or take the offsets' error;
//   4. feed the LoadControl the common timeline, so the monitor samples the
//      server over the same window as in a local run, and wait for every
//      result (bounded: the plan, the connect timeout and kResultGrace);
//      the control's stop (a crash of the server, Ctrl-C) closes every
//      agent's stdin, which stops it with a result;
//   5. merge the results exactly (loadgen::merge_results).
// Any agent that does not answer, answers wrongly, or ends without a result
// fails the run naming its host and why; the other agents are stopped and
// every process is reaped before returning.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "client_hosts.h"
#include "loadgen/load.h"
#include "results.h"

namespace cb::harness {

struct RemoteSettings {
  std::vector<ClientHost> hosts;
  std::string transport = kDefaultTransport;
  std::string agent_binary;  // the loadgen binary's path on the client hosts
  std::chrono::milliseconds hello_timeout{15'000};
};

inline constexpr int kPings = 5;
// After the planned end: time for the agents to close and send their results.
inline constexpr std::chrono::seconds kResultGrace{30};

struct RemoteOutcome {
  std::optional<loadgen::LoadResult> merged;  // all agents' results; none when failed
  std::vector<RunRecord::Agent> agents;
  std::optional<std::string> failure;  // "client host H: why"
  // {"agents": [{"host", "result"}], "merged": {"corrected", "uncorrected"}}:
  // every result document received (also of a failed run) and the merged
  // histograms, for the results folder.
  nlohmann::json documents;
};

// `config` is the cell's whole load; each host gets connections and rate in
// proportion (connections spread as evenly as they divide, the rate
// following them) and its own source addresses. Throws
// std::invalid_argument when there are fewer connections than hosts.
std::vector<loadgen::LoadConfig> split_load(const loadgen::LoadConfig& config, const std::vector<ClientHost>& hosts);

RemoteOutcome run_remote_load(const loadgen::LoadConfig& config, const RemoteSettings& s,
                              loadgen::LoadControl& control);

}  // namespace cb::harness
