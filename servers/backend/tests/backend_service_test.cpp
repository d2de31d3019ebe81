// backend_service_test.cpp: end-to-end tests of bench_backend, started as a
// child process on port 0. Many connections send pipelined frames with mixed
// delays and sizes; every reply must arrive byte-exact, in order, and never
// before the delays it waits for (the client reads as soon as poll reports
// bytes: lateness is allowed, earliness is a bug). Also: bad frames close
// only their connection, a half-closed client still gets its replies, and
// SIGTERM exits 0 with the counters line. Run:
//   ctest --test-dir build-backend -R BackendService
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/fd.h"
#include "common/socket.h"
#include "support/backend_process.h"
#include "support/client.h"
#include "protocol/backend_frame.h"

namespace cb::backend {
namespace {

using Clock = std::chrono::steady_clock;
using cb::testing::send_all;
using std::chrono::microseconds;
using std::chrono::milliseconds;

// Every wait in these tests gives up after this: a failure, never a hang.
constexpr auto kDeadline = std::chrono::seconds(30);

// bench_backend as a child (tests/support/backend_process.h).
struct BackendProcess : cb::testing::BackendProcess {
  BackendProcess() : cb::testing::BackendProcess(CB_BACKEND_PATH) {}
};

// One client connection: what it sent, and a reader checking each reply.
struct Client {
  Fd fd;
  std::vector<proto::Request> sent;
  Clock::time_point sent_at{};
  std::size_t next = 0;  // index of the reply being read
  proto::ReplyReader reader;
  bool failed = false;
};

std::string frames_of(const std::vector<proto::Request>& requests) {
  std::string out;
  for (const proto::Request& r : requests) proto::append_request(out, r);
  return out;
}

// A reply may not arrive before every delay up to it has elapsed (replies
// are in order, so it waits for the longest before it).
microseconds earliest(const Client& c, std::size_t i) {
  uint32_t most = 0;
  for (std::size_t j = 0; j <= i; ++j) most = std::max(most, c.sent[j].delay_us);
  return microseconds(most);
}

// Feeds what arrived to the client's reader; checks each completed reply's
// arrival time. Returns false once the client failed.
bool take(Client& c, std::string_view in, Clock::time_point now) {
  while (!in.empty() && !c.failed) {
    if (c.next >= c.sent.size()) {
      ADD_FAILURE() << "bytes after the last reply";
      return !(c.failed = true);
    }
    if (!c.reader.expecting()) c.reader.expect(c.sent[c.next]);
    proto::ReplyStatus s = c.reader.feed(in);
    if (s == proto::ReplyStatus::kError) {
      ADD_FAILURE() << "reply " << c.next << ": " << proto::reply_error_name(c.reader.error());
      return !(c.failed = true);
    }
    if (s != proto::ReplyStatus::kComplete) continue;
    EXPECT_GE(now - c.sent_at, earliest(c, c.next)) << "reply " << c.next << " came early";
    ++c.next;
  }
  return !c.failed;
}

bool done(const Client& c) { return c.failed || c.next == c.sent.size(); }

// Reads every client's replies as they arrive, until all are in (or time
// runs out). Returns the number of clients that got every reply right.
std::size_t read_all(std::vector<Client>& clients) {
  std::vector<char> buf(256 * 1024);
  auto give_up = Clock::now() + kDeadline;
  std::vector<pollfd> fds;
  std::vector<Client*> who;
  for (;;) {
    fds.clear();
    who.clear();
    for (Client& c : clients) {
      if (done(c)) continue;
      fds.push_back({c.fd.get(), POLLIN, 0});
      who.push_back(&c);
    }
    if (fds.empty() || Clock::now() > give_up) break;
    if (::poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      ssize_t n = ::recv(fds[i].fd, buf.data(), buf.size(), MSG_DONTWAIT);
      Clock::time_point now = Clock::now();
      if (n <= 0 && !(n < 0 && errno == EAGAIN)) {
        ADD_FAILURE() << "connection ended after " << who[i]->next << " replies";
        who[i]->failed = true;
        continue;
      }
      if (n > 0) take(*who[i], std::string_view(buf.data(), static_cast<std::size_t>(n)), now);
    }
  }
  std::size_t ok = 0;
  for (const Client& c : clients) ok += !c.failed && c.next == c.sent.size();
  return ok;
}

// The requests of client `k`: every mix of delay and size, in an order that
// differs between clients.
std::vector<proto::Request> mixed_requests(std::size_t k) {
  const uint32_t delays[] = {0, 1000, 5000};
  const uint32_t sizes[] = {0, 1, 4096, 70000};
  std::vector<proto::Request> out;
  for (uint32_t i = 0; i < 12; ++i) {
    uint32_t pick = static_cast<uint32_t>(k) + i * 5;
    out.push_back({delays[pick % 3], sizes[(pick / 3) % 4], i});
  }
  return out;
}

Client open_client(uint16_t port, std::vector<proto::Request> requests) {
  Client c;
  c.fd = connect_tcp("127.0.0.1", port);
  c.sent = std::move(requests);
  return c;
}

// Sends each client's frames in one write (pipelined), stamping the time.
void send_requests(std::vector<Client>& clients) {
  for (Client& c : clients) {
    c.sent_at = Clock::now();
    ASSERT_TRUE(send_all(c.fd.get(), frames_of(c.sent)));
  }
}

TEST(BackendService, ManyConnectionsPipelinedMixedDelaysAndSizes) {
  BackendProcess backend;
  constexpr std::size_t kClients = 200;
  std::vector<Client> clients;
  for (std::size_t k = 0; k < kClients; ++k) clients.push_back(open_client(backend.port(), mixed_requests(k)));
  send_requests(clients);
  EXPECT_EQ(read_all(clients), kClients);
  clients.clear();
  EXPECT_EQ(backend.stop(), 0);
  nlohmann::json counters = backend.counters();
  ASSERT_TRUE(counters.is_object()) << backend.output();
  EXPECT_EQ(counters["requests"], kClients * 12);
  EXPECT_EQ(counters["replies"], kClients * 12);
  EXPECT_EQ(counters["errors_bad_frame"], 0);
  EXPECT_EQ(counters["connections_accepted"], kClients);
}

// Delays of tens of milliseconds, far above the scheduling noise of a busy
// machine, so a reply sent too early is seen as early (with 1-5 ms delays a
// loaded client may read too late to tell).
TEST(BackendService, NoReplyComesBeforeTheDelaysBeforeIt) {
  BackendProcess backend;
  std::vector<Client> clients;
  for (uint32_t k = 0; k < 20; ++k) {
    // Falling delays: without the ordering rule the last would come first.
    clients.push_back(open_client(backend.port(), {{60000 + k * 1000, 10, 1}, {30000, 70000, 2},
                                                   {0, 1, 3}, {0, 0, 4}, {90000, 5, 5}}));
  }
  send_requests(clients);
  EXPECT_EQ(read_all(clients), clients.size());
}

// True if the server closed `fd` (EOF or reset) within kDeadline.
bool closed_by_peer(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kDeadline).count())) <= 0) return false;
  char c;
  ssize_t n = ::recv(fd, &c, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

TEST(BackendService, BadFramesCloseOnlyTheirConnection) {
  BackendProcess backend;
  std::vector<Client> waiting;
  waiting.push_back(open_client(backend.port(), {{20000, 100, 1}}));  // in flight meanwhile
  send_requests(waiting);
  std::string bad_magic(proto::kRequestBytes, 'x');
  std::string too_long = frames_of({{proto::kMaxDelayUs + 1, 0, 1}});
  std::string too_big = frames_of({{0, proto::kMaxReplyBytes + 1, 1}});
  for (const std::string& bad : {bad_magic, too_long, too_big}) {
    Fd fd = connect_tcp("127.0.0.1", backend.port());
    ASSERT_TRUE(send_all(fd.get(), bad));
    EXPECT_TRUE(closed_by_peer(fd.get()));
  }
  EXPECT_EQ(read_all(waiting), 1u);
  std::vector<Client> later;
  later.push_back(open_client(backend.port(), mixed_requests(1)));
  send_requests(later);
  EXPECT_EQ(read_all(later), 1u);
  EXPECT_EQ(backend.stop(), 0);
  EXPECT_EQ(backend.counters()["errors_bad_frame"], 3);
}

TEST(BackendService, HalfClosedClientGetsEveryReplyThenEof) {
  BackendProcess backend;
  std::vector<Client> clients;
  clients.push_back(open_client(backend.port(), mixed_requests(7)));
  send_requests(clients);
  ASSERT_EQ(::shutdown(clients[0].fd.get(), SHUT_WR), 0);
  EXPECT_EQ(read_all(clients), 1u);
  EXPECT_TRUE(closed_by_peer(clients[0].fd.get()));
}

TEST(BackendService, SigtermExitsZeroWithCountersEvenWithRepliesOwed) {
  BackendProcess backend;
  std::vector<Client> clients;
  clients.push_back(open_client(backend.port(), {{proto::kMaxDelayUs, 10, 1}}));
  send_requests(clients);
  std::this_thread::sleep_for(milliseconds(50));  // let it read the frame
  auto started = Clock::now();
  EXPECT_EQ(backend.stop(), 0);
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(5));  // not after the 10 s delay
  nlohmann::json counters = backend.counters();
  ASSERT_TRUE(counters.is_object()) << backend.output();
  EXPECT_EQ(counters["requests"], 1);
  EXPECT_EQ(counters["replies"], 0);
  EXPECT_EQ(counters["connections_closed"], 1);
}

// A client that pipelines far more than the service lets one connection owe
// (4096) and does not read for a while: it is held back, others are served
// meanwhile, and once it reads, every reply arrives in order.
TEST(BackendService, AClientThatDoesNotReadIsHeldBackNotDropped) {
  BackendProcess backend;
  std::vector<proto::Request> many;
  for (uint32_t i = 0; i < 10000; ++i) many.push_back({0, 4096, i});
  std::vector<Client> greedy;
  greedy.push_back(open_client(backend.port(), many));
  greedy[0].sent_at = Clock::now();
  // Sent from a thread: once the service stops reading, the send blocks
  // until the replies are read below.
  std::string frames = frames_of(many);
  std::thread sender([&] { EXPECT_TRUE(send_all(greedy[0].fd.get(), frames)); });
  std::this_thread::sleep_for(milliseconds(200));
  std::vector<Client> polite;
  polite.push_back(open_client(backend.port(), mixed_requests(3)));
  send_requests(polite);
  EXPECT_EQ(read_all(polite), 1u);
  EXPECT_EQ(read_all(greedy), 1u);
  sender.join();
  EXPECT_EQ(backend.stop(), 0);
  EXPECT_EQ(backend.counters()["replies"], 10012);
}

// 10,000 connections at once, each answered: the service's per-connection
// cost is small enough (skipped if this process may not open that many).
TEST(BackendService, TenThousandConnectionsAreEachAnswered) {
  constexpr std::size_t kClients = 10000;
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  if (lim.rlim_cur < kClients + 100) GTEST_SKIP() << "RLIMIT_NOFILE " << lim.rlim_cur;
  BackendProcess backend;
  std::vector<Client> clients;
  clients.reserve(kClients);
  for (std::size_t k = 0; k < kClients; ++k) {
    clients.push_back(open_client(backend.port(), {{static_cast<uint32_t>(k % 3) * 1000, 64, 1}}));
  }
  send_requests(clients);
  EXPECT_EQ(read_all(clients), kClients);
  clients.clear();
  EXPECT_EQ(backend.stop(), 0);
  EXPECT_EQ(backend.counters()["connections_peak"], kClients);
}

}  // namespace
}  // namespace cb::backend
