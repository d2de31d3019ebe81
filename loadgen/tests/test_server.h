// test_server.h: a small misbehaving-on-demand server for the load
// generator's tests: echo or a fixed HTTP response, on 127.0.0.1 port 0, on
// its own thread with its own event loop. Knobs make it stall once, corrupt
// a byte, or ignore some connections, so each test can check one behaviour
// of loadgen with exact counts.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/fd.h"

namespace cb::loadgen::testing {

struct TestServerOptions {
  enum class Mode { kEcho, kHttp } mode = Mode::kEcho;
  // Stall the whole server (sleep on its thread) once, when this many bytes
  // (echo) or requests (http) have arrived in total. 0 = never.
  uint64_t stall_after = 0;
  int stall_ms = 0;
  // Echo: flip the byte at this offset of every connection's stream.
  int64_t corrupt_offset = -1;
  // Connections whose accept number (0, 1, ..) is a multiple of this are
  // never answered (their bytes are read and dropped). 0 = answer all.
  uint64_t silent_every = 0;
  // HTTP: the response.
  int status = 200;
  std::size_t body_size = 100;
  bool close_after_response = false;
  // Leave out Content-Length: the body ends when the server closes
  // (implies close_after_response).
  bool no_content_length = false;
};

class TestServer {
 public:
  explicit TestServer(TestServerOptions options);
  ~TestServer();  // stops the thread, closes every socket
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  uint16_t port() const { return port_; }
  uint64_t accepted() const { return accepted_.load(); }
  uint64_t requests() const { return requests_.load(); }  // http only
  uint64_t open_connections() const { return open_.load(); }
  // The distinct source addresses connections came from.
  std::set<std::string> peer_addresses() const {
    std::lock_guard<std::mutex> lock(mu_);
    return peers_;
  }

  // The server side of the loop; public for the standalone binary.
  void run();

 private:
  struct Impl;
  TestServerOptions options_;
  Fd listener_;
  Fd stop_;
  uint16_t port_ = 0;
  std::atomic<uint64_t> accepted_{0}, requests_{0}, open_{0};
  mutable std::mutex mu_;
  std::set<std::string> peers_;
  std::thread thread_;
  friend struct Impl;
};

// A port on 127.0.0.1 with nothing listening (bound once, then closed).
uint16_t unused_port();

}  // namespace cb::loadgen::testing
