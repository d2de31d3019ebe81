// hold_connections.cpp: opens N keep-alive connections to a server, makes one
// request on each (so every connection has done real work, as an idle
// keep-alive client has), then holds them all open and idle until stdin
// closes or the hold time runs out. bench/compare_reactor.sh compiles it at
// run time and measures the server's memory while the connections are held.
//
//   hold_connections HOST PORT COUNT http|echo PATH_OR_MESSAGE HOLD_SECONDS
//
// Prints "ready N" once all N connections have had their answer, "error ..."
// and exits 1 if any connect, request or answer fails.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int connect_to(const char* host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host, &addr.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{10, 0};  // a server that never answers fails the run, not hangs it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool send_all(int fd, const std::string& bytes) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return false;
    at += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads one answer: `expect` bytes for echo, a Content-Length response for http.
bool read_answer(int fd, bool http, std::size_t expect) {
  std::string got;
  char buf[16384];
  for (;;) {
    if (!http && got.size() >= expect) return true;
    if (http) {
      std::size_t end = got.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::size_t cl = got.find("Content-Length: ");
        if (cl == std::string::npos) cl = got.find("content-length: ");
        std::size_t body = cl == std::string::npos ? 0 : std::strtoul(got.c_str() + cl + 16, nullptr, 10);
        if (got.size() >= end + 4 + body) return got.compare(0, 12, "HTTP/1.1 200") == 0;
      }
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    got.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: hold_connections HOST PORT COUNT http|echo PATH_OR_MESSAGE HOLD_SECONDS\n");
    return 2;
  }
  const char* host = argv[1];
  int port = std::atoi(argv[2]);
  int count = std::atoi(argv[3]);
  bool http = std::string(argv[4]) == "http";
  std::string request = http ? std::string("GET ") + argv[5] + " HTTP/1.1\r\nHost: bench\r\n\r\n" : argv[5];
  int hold_seconds = std::atoi(argv[6]);
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    int fd = connect_to(host, port);
    if (fd < 0 || !send_all(fd, request) || !read_answer(fd, http, request.size())) {
      std::printf("error connection %d: %s\n", i, std::strerror(errno));
      return 1;
    }
    fds.push_back(fd);
  }
  std::printf("ready %d\n", count);
  std::fflush(stdout);
  // Hold until stdin closes (the script is done) or the time runs out.
  pollfd in{STDIN_FILENO, POLLIN, 0};
  (void)::poll(&in, 1, hold_seconds * 1000);
  for (int fd : fds) ::close(fd);
  return 0;
}
