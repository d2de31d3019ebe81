// peer_asio: the Boost.Asio peer (servers/peers/README.md, "asio"), echo
// only, written the way Asio's own examples are: a session object per
// connection whose async_read_some and async_write handlers chain each
// other. --workers threads each run their own io_context; one acceptor (on
// the first) hands every new connection to the next context in turn, where
// it stays for its life.
//
//   peer_asio --host HOST --port PORT --workers N
//   peer_asio --version
//
// Run by servers/peers/asio/serve, which checks the arguments first.
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded (C++20)
#include <vector>

#include <boost/asio.hpp>
#include <boost/version.hpp>

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// Each connection's buffer: one read's worth, echoed before the next read.
constexpr std::size_t kBufferBytes = 16 * 1024;

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : socket_(std::move(socket)) {}

  void start() {
    error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    read();
  }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](error_code ec, std::size_t n) {
                              if (!ec) self->write(n);
                            });
  }

  void write(std::size_t n) {
    asio::async_write(socket_, asio::buffer(buffer_.data(), n),
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        if (!ec) self->read();
                      });
  }

  tcp::socket socket_;
  std::array<char, kBufferBytes> buffer_{};
};

class Server {
 public:
  Server(std::vector<std::unique_ptr<asio::io_context>>& contexts, const tcp::endpoint& at)
      : contexts_(contexts), acceptor_(*contexts[0]), retry_(*contexts[0]) {
    acceptor_.open(at.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void stop() { acceptor_.close(); }

  void accept() {
    asio::io_context& next = *contexts_[next_++ % contexts_.size()];
    acceptor_.async_accept(next, [this](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;  // stopped
      if (!ec) {
        std::make_shared<Session>(std::move(socket))->start();
        accept();
        return;
      }
      // Out of descriptors or the like: rest 10 ms instead of spinning.
      retry_.expires_after(std::chrono::milliseconds(10));
      retry_.async_wait([this](error_code wait_ec) {
        if (!wait_ec) accept();
      });
    });
  }

 private:
  std::vector<std::unique_ptr<asio::io_context>>& contexts_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  std::size_t next_ = 0;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "peer_asio: %s (usage: peer_asio --host HOST --port PORT --workers N)\n",
               why.c_str());
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  long port = 0, workers = 1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--version") {
      std::printf("Boost.Asio %d.%d.%d (Boost %s)\n", BOOST_ASIO_VERSION / 100000,
                  BOOST_ASIO_VERSION / 100 % 1000, BOOST_ASIO_VERSION % 100, BOOST_LIB_VERSION);
      return 0;
    }
    if (i + 1 >= argc) usage(arg + " needs a value");
    std::string value = argv[++i];
    char* end = nullptr;
    if (arg == "--host") {
      host = value;
    } else if (arg == "--port") {
      port = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || port < 0 || port > 65535) usage("bad --port " + value);
    } else if (arg == "--workers") {
      workers = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || workers < 1 || workers > 9999) usage("bad --workers " + value);
    } else {
      usage("unknown argument " + arg);
    }
  }
  try {
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    for (long i = 0; i < workers; ++i) {
      contexts.push_back(std::make_unique<asio::io_context>(1));  // one thread each
    }
    tcp::endpoint at(asio::ip::make_address(host), static_cast<uint16_t>(port));
    Server server(contexts, at);
    server.accept();
    // SIGTERM/SIGINT: stop accepting and stop every context; the sessions
    // go with their contexts.
    asio::signal_set signals(*contexts[0], SIGTERM, SIGINT);
    signals.async_wait([&](error_code, int) {
      server.stop();
      for (auto& c : contexts) c->stop();
    });
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    for (auto& c : contexts) guards.push_back(asio::make_work_guard(*c));
    std::printf("listening %s:%u model=peer:asio proto=echo pid=%ld\n", host.c_str(),
                static_cast<unsigned>(server.port()), static_cast<long>(::getpid()));
    std::fflush(stdout);
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < contexts.size(); ++i) {
      threads.emplace_back([&c = *contexts[i]] { c.run(); });
    }
    contexts[0]->run();
    for (auto& t : threads) t.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "peer_asio: %s\n", e.what());
    return 1;
  }
  return 0;
}
