// peers.h: the reference servers (servers/peers/: nginx, Apache, Go, ...)
// as models of the matrix. servers/peers/peers.json lists them; each has a
// launcher servers/peers/NAME/serve (the contract: servers/peers/README.md)
// that the harness starts exactly like bench_server (server_control.h: the
// launcher's command line is the only difference).
//
// A peer is the registry row {name "peer", variant NAME}: the tokens
// `peer:NAME`, `peer:*` and `peer` (every peer) select them; `all` and
// `defaults` mean the models only. A peer whose `serve --check --proto P`
// fails cannot run protocol P here: its cells are skipped with the reason.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "matrix.h"

namespace cb::harness {

inline constexpr const char* kPeerModel = "peer";

struct Peer {
  std::string name;                  // "nginx"
  std::vector<std::string> protocols;
  std::string summary;
  std::optional<std::string> twin;   // the model it corresponds to
  nlohmann::ordered_json row;        // its peers.json object, as written
  std::string launcher;              // DIR/NAME/serve
  // Protocol -> why `serve --check` refused it (absent: it runs here).
  std::map<std::string, std::string> unavailable;
  std::optional<std::string> version;  // `serve --version`'s line
};

// Reads DIR/peers.json (a JSON array of {name, protocols, summary, twin,
// needs, package, notes}); throws std::invalid_argument with a one-line
// reason when it is missing or malformed.
std::vector<Peer> load_peers(const std::string& dir);

// Runs every peer's `serve --check --proto echo|http` and `serve --version`
// (each bounded in time) and fills `unavailable` and `version`.
void check_peers(std::vector<Peer>& peers);

// The registry rows of the peers (after check_peers).
std::vector<ModelVariant> peer_models(const std::vector<Peer>& peers);

// Whether any of these model tokens names a peer ("peer", "peer:...").
bool names_a_peer(const std::vector<std::string>& tokens);

// results.json config.peers: one object per peer.
nlohmann::ordered_json peers_to_json(const std::vector<Peer>& peers);

// A peer's launcher command line for one run (the contract's CLI),
// listening on `host` (the harness's --listen).
std::vector<std::string> peer_command(const std::string& launcher, const std::string& proto,
                                      const std::string& root, int workers, const std::string& state_dir,
                                      const std::string& bin_dir, const std::string& host);

// The configuration files a launcher wrote into its state dir (names
// ending in ".conf"), name -> text, each at most 64 KiB.
std::vector<std::pair<std::string, std::string>> peer_config_files(const std::string& state_dir);

}  // namespace cb::harness
