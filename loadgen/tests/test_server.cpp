// test_server.cpp: see test_server.h.
#include "test_server.h"

#include <arpa/inet.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <unordered_map>

#include "common/io.h"
#include "common/socket.h"
#include "common/status.h"
#include "event/epoll_poller.h"
#include "event/event_loop.h"

namespace cb::loadgen::testing {
namespace {

using Loop = event::EventLoop<event::EpollPoller>;

struct Peer : event::Handler {  // the loop's Handler* leads back (event::owner_of)
  void* impl = nullptr;
  Fd fd;
  uint64_t number = 0;
  uint64_t offset = 0;  // bytes received so far
  int crlf_state = 0;   // http: progress through "\r\n\r\n"
  std::string pending;  // bytes the socket did not take yet
  bool silent = false;
  bool closing = false;
};

// A handler that knows its server.
struct ImplHandler : event::Handler {
  void* impl;
};

}  // namespace

struct TestServer::Impl {
  TestServer& s;
  Loop loop;
  ImplHandler accept_handler{{&on_accept}, this};
  ImplHandler stop_handler{{&on_stop}, this};
  std::unordered_map<Peer*, std::unique_ptr<Peer>> peers;
  std::string response;
  uint64_t received_total = 0;
  bool stalled = false;
  AcceptGuard guard;

  explicit Impl(TestServer& server) : s(server) {
    if (s.options_.mode == TestServerOptions::Mode::kHttp) {
      const TestServerOptions& o = s.options_;
      response = "HTTP/1.1 " + std::to_string(o.status) + " X\r\n";
      if (!o.no_content_length) {
        response += "Content-Length: " + std::to_string(o.body_size) + "\r\n";
      }
      if (o.close_after_response) response += "Connection: close\r\n";
      response += "\r\n" + std::string(o.body_size, 'b');
    }
  }

  static Impl& of(event::Handler* h) {
    return *static_cast<Impl*>(event::owner_of<ImplHandler>(h)->impl);
  }
  static void on_stop(event::Handler* h, uint32_t) { of(h).loop.stop(); }

  static void on_accept(event::Handler* h, uint32_t) {
    Impl& m = of(h);
    for (int i = 0; i < 64; ++i) {
      AcceptResult r = m.guard.accept(m.s.listener_.get(), true);
      if (r.status != AcceptStatus::kAccepted) return;
      auto peer = std::make_unique<Peer>();
      peer->on_event = &on_peer;
      peer->impl = &m;
      peer->fd = std::move(r.fd);
      m.remember_peer(peer->fd.get());
      peer->number = m.s.accepted_++;
      peer->silent =
          m.s.options_.silent_every != 0 && peer->number % m.s.options_.silent_every == 0;
      m.loop.watch(peer->fd.get(), event::kReadable, peer.get());
      ++m.s.open_;
      Peer* key = peer.get();
      m.peers.emplace(key, std::move(peer));
    }
  }

  static void on_peer(event::Handler* h, uint32_t events) {
    Peer* p = event::owner_of<Peer>(h);
    Impl& m = *static_cast<Impl*>(p->impl);
    if ((events & event::kWritable) && !m.flush(*p)) return;
    if (events & event::kReadable) m.read(*p);
  }

  void remember_peer(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 || ss.ss_family != AF_INET)
      return;
    char text[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, text, sizeof text);
    std::lock_guard<std::mutex> lock(s.mu_);
    s.peers_.insert(text);
  }

  void drop(Peer& p) {
    --s.open_;
    peers.erase(&p);
  }

  void read(Peer& p) {
    char buf[16384];
    IoResult r = io::read_some(p.fd.get(), buf);
    if (r.status == IoStatus::kRetry) return;
    if (!r.ok()) return drop(p);
    std::string out;
    if (s.options_.mode == TestServerOptions::Mode::kEcho) {
      out.assign(buf, r.bytes);
      int64_t at = s.options_.corrupt_offset - static_cast<int64_t>(p.offset);
      if (at >= 0 && at < static_cast<int64_t>(r.bytes)) out[static_cast<std::size_t>(at)] ^= 0x20;
      received_total += r.bytes;
    } else {
      for (std::size_t i = 0; i < r.bytes; ++i) {
        static constexpr char kEnd[] = "\r\n\r\n";
        p.crlf_state = buf[i] == kEnd[p.crlf_state] ? p.crlf_state + 1 : (buf[i] == '\r' ? 1 : 0);
        if (p.crlf_state == 4) {
          p.crlf_state = 0;
          ++s.requests_;
          ++received_total;
          out += response;
        }
      }
    }
    p.offset += r.bytes;
    maybe_stall();
    if (p.silent || out.empty()) return;
    p.pending += out;
    p.closing = s.options_.close_after_response || s.options_.no_content_length;
    flush(p);
  }

  void maybe_stall() {
    if (stalled || s.options_.stall_after == 0 || received_total < s.options_.stall_after) return;
    stalled = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(s.options_.stall_ms));
  }

  // Returns false if the peer was dropped.
  bool flush(Peer& p) {
    while (!p.pending.empty()) {
      IoResult w = io::write_some(p.fd.get(), p.pending);
      if (w.status == IoStatus::kRetry) break;
      if (!w.ok()) {
        drop(p);
        return false;
      }
      p.pending.erase(0, w.bytes);
    }
    if (p.pending.empty() && p.closing) {
      drop(p);
      return false;
    }
    loop.modify(p.fd.get(),
                p.pending.empty() ? event::kReadable : event::kReadable | event::kWritable,
                &p);
    return true;
  }
};

TestServer::TestServer(TestServerOptions options) : options_(options) {
  ListenOptions lo;
  lo.nonblocking = true;
  listener_ = listen_tcp(lo);
  port_ = local_port(listener_.get());
  stop_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_) throw SysError("eventfd", errno);
  thread_ = std::thread([this] { run(); });
}

TestServer::~TestServer() {
  uint64_t one = 1;
  ssize_t n = ::write(stop_.get(), &one, sizeof one);
  (void)n;
  if (thread_.joinable()) thread_.join();
}

void TestServer::run() {
  Impl impl(*this);
  impl.loop.watch(listener_.get(), event::kReadable, &impl.accept_handler);
  impl.loop.watch(stop_.get(), event::kReadable, &impl.stop_handler);
  impl.loop.run();
}

uint16_t unused_port() {
  Fd fd = listen_tcp(ListenOptions{});
  return local_port(fd.get());  // closed on return: nothing listens there now
}

}  // namespace cb::loadgen::testing
