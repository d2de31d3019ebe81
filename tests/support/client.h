// client.h: small blocking client helpers for tests: connect, send all,
// receive an exact number of bytes (with a deadline), read one HTTP response.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/fd.h"

namespace cb::testing {

Fd connect_to(uint16_t port);  // 127.0.0.1:port, blocking, 10 s I/O timeouts
bool send_all(int fd, std::string_view bytes);
// Reads exactly n bytes; nullopt on EOF, error or timeout.
std::optional<std::string> recv_exact(int fd, std::size_t n);
// Reads until EOF (or timeout); returns what arrived.
std::string recv_until_eof(int fd);
// True if the peer closed (read returns 0) within the socket timeout.
bool peer_closed(int fd);

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string raw_head;
};
// Reads one response (Content-Length framed; HEAD responses have no body).
std::optional<HttpResponse> read_response(int fd, bool head_request = false);

// Echo: sends `payload` on a new connection in odd-sized pieces while a
// second thread reads the echo back; true if every byte came back in order.
bool echo_roundtrip(uint16_t port, const std::string& payload);
// `clients` echo_roundtrip()s at once, each on its own connection with
// make_payload(size, i); returns how many came back whole.
int echo_roundtrips_in_parallel(uint16_t port, std::size_t size, int clients);

// A deterministic pseudo-random payload (so corruption cannot go unnoticed).
std::string make_payload(std::size_t n, uint32_t seed);

}  // namespace cb::testing
