// client_hosts.cpp: see client_hosts.h.
#include "client_hosts.h"

#include <fmt/format.h>

#include <stdexcept>

#include "loadgen/config.h"

namespace cb::harness {
namespace {

[[noreturn]] void bad(const std::string& message) {
  throw std::invalid_argument(message);
}

bool plain(char c, const char* extra) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view(extra).find(c) != std::string_view::npos;
}

}  // namespace

ClientHost parse_client_host(const std::string& spec) {
  ClientHost h;
  h.spec = spec;
  std::size_t eq = spec.find('=');
  h.host = spec.substr(0, eq);
  if (h.host.empty()) bad(fmt::format("client host '{}' has no host", spec));
  std::size_t at = h.host.find('@');
  std::string name = at == std::string::npos ? h.host : h.host.substr(at + 1);
  std::string user = at == std::string::npos ? "" : h.host.substr(0, at);
  if (name.empty() || (at != std::string::npos && user.empty())) bad(fmt::format("client host '{}' is not [user@]host", spec));
  for (char c : user) {
    if (!plain(c, "._-")) bad(fmt::format("client host '{}': user name with '{}'", spec, c));
  }
  for (char c : name) {
    if (!plain(c, ".-_:")) bad(fmt::format("client host '{}': host name with '{}'", spec, c));
  }
  if (eq != std::string::npos) {
    std::string ips = spec.substr(eq + 1);
    for (char& c : ips) c = c == '+' ? ',' : c;
    try {
      h.source_ips = loadgen::parse_source_ips(ips);
    } catch (const std::invalid_argument& e) {
      bad(fmt::format("client host '{}': {}", spec, e.what()));
    }
  }
  return h;
}

std::vector<ClientHost> parse_client_hosts(const std::string& text) {
  std::vector<ClientHost> hosts;
  std::size_t from = 0;
  while (from <= text.size()) {
    std::size_t comma = text.find(',', from);
    std::string item = text.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    if (item.empty()) bad("empty client host in the list");
    hosts.push_back(parse_client_host(item));
    if (comma == std::string::npos) break;
    from = comma + 1;
  }
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (hosts[i].spec == hosts[j].spec) bad(fmt::format("client host '{}' given twice", hosts[i].spec));
    }
  }
  return hosts;
}

std::string agent_command(const std::string& transport, const std::string& host, const std::string& agent_binary) {
  std::string out;
  bool placed = false;
  constexpr std::string_view kHole = "{host}";
  for (std::size_t i = 0; i < transport.size();) {
    if (transport.compare(i, kHole.size(), kHole) == 0) {
      out += host;
      placed = true;
      i += kHole.size();
    } else {
      out += transport[i++];
    }
  }
  if (!placed) out += " " + host;
  return out + " " + agent_binary + " --agent";
}

void check_transport(const std::string& transport, const std::string& agent_binary) {
  if (transport.find_first_not_of(" \t") == std::string::npos) bad("--client-transport is empty");
  if (agent_binary.empty()) bad("--agent-binary is empty");
  for (char c : agent_binary) {
    if (!plain(c, "/._-+")) bad(fmt::format("--agent-binary '{}': a path with '{}'", agent_binary, c));
  }
}

}  // namespace cb::harness
