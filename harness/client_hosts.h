// client_hosts.h: the client hosts a matrix drives load from (--client-hosts,
// a matrix file's "client_hosts") and the command that starts a load agent
// on one of them (--client-transport). remote_load.h runs them.
#pragma once

#include <string>
#include <vector>

namespace cb::harness {

struct ClientHost {
  std::string spec;  // as typed: "user@h1" or "user@h1=198.18.1.10-198.18.1.20"
  std::string host;  // what the transport gets: "user@h1"
  // The agent's source addresses (loadgen --source-ips: a range A-B or a
  // '+'-separated list); empty: that host's kernel chooses.
  std::vector<std::string> source_ips;
};

// "user@h1,h2=198.18.1.10-198.18.1.20": hosts separated by commas, each
// with optional source addresses after '='. A host is [user@]name, where
// name is a host name or numeric address: letters, digits and . - _ : only,
// so it is safe in a shell command. Throws std::invalid_argument (one line).
std::vector<ClientHost> parse_client_hosts(const std::string& text);
ClientHost parse_client_host(const std::string& spec);

inline constexpr const char* kDefaultTransport = "ssh -o BatchMode=yes {host}";

// The shell command that starts `agent_binary --agent` on `host`: the
// transport with every {host} replaced by the host (or the host appended
// when it has no {host}), then the binary and --agent. Run with /bin/sh -c.
std::string agent_command(const std::string& transport, const std::string& host, const std::string& agent_binary);

// Throws std::invalid_argument when the transport or the agent's path
// cannot be used (empty, or a path with characters a shell would read).
void check_transport(const std::string& transport, const std::string& agent_binary);

}  // namespace cb::harness
