// client.cpp: see client.h.
#include "support/client.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include "common/socket.h"

namespace cb::testing {
namespace {

// Tests fail instead of hanging: every blocking call gives up after this.
constexpr int kIoTimeoutSeconds = 10;

// Bytes already received but not yet consumed by read_response, per fd.
thread_local std::map<int, std::string> t_leftover;

}  // namespace

Fd connect_to(uint16_t port) {
  Fd fd = connect_tcp("127.0.0.1", port);
  timeval tv{kIoTimeoutSeconds, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  t_leftover.erase(fd.get());
  return fd;
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::optional<std::string> recv_exact(int fd, std::size_t n) {
  std::string out = std::move(t_leftover[fd]);
  t_leftover.erase(fd);
  if (out.size() > n) {
    t_leftover[fd] = out.substr(n);
    out.resize(n);
    return out;
  }
  std::size_t have = out.size();
  out.resize(n);
  while (have < n) {
    ssize_t r = ::recv(fd, out.data() + have, n - have, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    have += static_cast<std::size_t>(r);
  }
  return out;
}

std::string recv_until_eof(int fd) {
  std::string out = std::move(t_leftover[fd]);
  t_leftover.erase(fd);
  char buf[16384];
  for (;;) {
    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  return out;
}

bool peer_closed(int fd) {
  if (!t_leftover[fd].empty()) return false;
  char c;
  for (;;) {
    ssize_t r = ::recv(fd, &c, 1, 0);
    if (r < 0 && errno == EINTR) continue;
    // A reset after the response also means the server closed.
    return r == 0 || (r < 0 && errno == ECONNRESET);
  }
}

std::optional<HttpResponse> read_response(int fd, bool head_request) {
  std::string buf = std::move(t_leftover[fd]);
  t_leftover.erase(fd);
  std::size_t end;
  char chunk[16384];
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    ssize_t r = ::recv(fd, chunk, sizeof chunk, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    buf.append(chunk, static_cast<std::size_t>(r));
  }
  HttpResponse resp;
  resp.raw_head = buf.substr(0, end + 4);
  if (resp.raw_head.rfind("HTTP/1.1 ", 0) != 0) return std::nullopt;
  resp.status = std::stoi(resp.raw_head.substr(9, 3));
  std::size_t line = resp.raw_head.find("\r\n") + 2;
  while (line < end) {
    std::size_t eol = resp.raw_head.find("\r\n", line);
    std::string h = resp.raw_head.substr(line, eol - line);
    std::size_t colon = h.find(':');
    if (colon != std::string::npos) {
      std::string name = h.substr(0, colon);
      for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::size_t v = colon + 1;
      while (v < h.size() && h[v] == ' ') ++v;
      resp.headers[name] = h.substr(v);
    }
    line = eol + 2;
  }
  std::size_t length = 0;
  if (auto it = resp.headers.find("content-length"); it != resp.headers.end()) {
    length = std::stoull(it->second);
  }
  if (head_request) length = 0;
  std::string rest = buf.substr(end + 4);
  t_leftover[fd] = std::move(rest);
  auto body = recv_exact(fd, length);
  if (!body) return std::nullopt;
  resp.body = std::move(*body);
  return resp;
}

bool echo_roundtrip(uint16_t port, const std::string& payload) {
  Fd fd = connect_to(port);
  std::string got;
  std::thread reader([&] {
    auto r = recv_exact(fd.get(), payload.size());
    if (r) got = std::move(*r);
  });
  static constexpr std::size_t kPieces[] = {1, 7, 13, 1000, 4093, 65537};
  bool sent = true;
  for (std::size_t at = 0, i = 0; at < payload.size() && sent; ++i) {
    std::size_t n = std::min(kPieces[i % 6], payload.size() - at);
    sent = send_all(fd.get(), std::string_view(payload).substr(at, n));
    at += n;
  }
  reader.join();
  return sent && got == payload;
}

int echo_roundtrips_in_parallel(uint16_t port, std::size_t size, int clients) {
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      if (echo_roundtrip(port, make_payload(size, static_cast<uint32_t>(i)))) ++good;
    });
  }
  for (auto& t : threads) t.join();
  return good.load();
}

std::string make_payload(std::size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return s;
}

}  // namespace cb::testing
