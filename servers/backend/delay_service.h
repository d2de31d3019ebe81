// delay_service.h: the backend delay service behind bench_backend. One
// thread, one level-triggered epoll EventLoop. Each request frame names a
// delay and a reply size; its reply is written once it and every earlier
// reply on the connection are due (see reply_queue.h), driven by one loop
// timer per connection armed for the first held reply.
//
// A connection is one small struct: a 16-byte partial frame, its reply
// queue and a timer. Reads go into one scratch buffer shared by all, so
// 10,000+ connections cost little. A client that pipelines without reading
// stops being read once kMaxPending replies are owed (back-pressure).
// Nothing is printed on the event path: every failure is a counter.
// Run: bench_backend --port 9000; tests: ctest --test-dir build-backend -R Backend
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "backend/reply_queue.h"
#include "common/fd.h"
#include "common/socket.h"
#include "event/epoll_poller.h"
#include "event/event_loop.h"
#include "protocol/backend_frame.h"

namespace cb::backend {

// Every field is a count (bytes_* in bytes).
#define CB_BACKEND_COUNTER_FIELDS(X)                                             \
  X(requests)               /* frames decoded */                              \
  X(replies)                /* replies written completely */                  \
  X(bytes_in)                                                                 \
  X(bytes_out)                                                                \
  X(errors_bad_frame)       /* bad magic or out-of-bounds field: closed */    \
  X(errors_truncated_frame) /* peer closed in the middle of a frame */        \
  X(connections_accepted)                                                     \
  X(connections_closed)                                                       \
  X(connections_peak)       /* most connections open at once */               \
  X(errors_read)            /* read failed other than by a reset */           \
  X(errors_write)           /* write failed other than by a reset */          \
  X(errors_reset)           /* ECONNRESET / EPIPE / hangup with replies owed */ \
  X(errors_accept)          /* accept or epoll registration failed */         \
  X(errors_no_fds)          /* refused at the descriptor limit */

// Plain integers: the service is one thread and prints them once, at exit.
struct Counters {
#define CB_BACKEND_DECLARE(name) uint64_t name = 0;
  CB_BACKEND_COUNTER_FIELDS(CB_BACKEND_DECLARE)
#undef CB_BACKEND_DECLARE
  std::string to_json() const;  // one line: {"requests":N,...}
};

class DelayService {
 public:
  // `listen_fd` is a non-blocking listening socket the caller keeps open.
  DelayService(int listen_fd, Counters& counters);
  ~DelayService();
  DelayService(const DelayService&) = delete;
  DelayService& operator=(const DelayService&) = delete;

  // Serves until stop_fd() becomes readable (SIGTERM/SIGINT), then closes
  // every connection.
  void run();

 private:
  struct Conn;
  struct Hook : event::Handler {
    DelayService* owner;
  };
  enum class Step { kKeep, kClose };

  static void on_conn_event(event::Handler* h, uint32_t events);
  static void on_listener(event::Handler* h, uint32_t events);
  static void on_stop(event::Handler* h, uint32_t events);
  static void on_resume(event::Handler* h, uint32_t events);

  void accept_ready();
  void admit(Fd fd);
  void serve(Conn* c, uint32_t events);
  Step read_requests(Conn* c);
  Step decode(Conn* c, std::string_view in);
  Step write_replies(Conn* c);
  Step end_of_input(Conn* c);
  void settle(Conn* c);
  void close(Conn* c);
  void close_all();

  int listen_fd_;
  Counters& counters_;
  event::EventLoop<event::EpollPoller> loop_;
  std::vector<char> scratch_;
  AcceptGuard guard_;
  std::unordered_set<Conn*> live_;  // for shutdown
  Hook listener_;
  Hook stop_;
  Hook resume_;
  event::Timer backoff_;
};

}  // namespace cb::backend
