// worker.cpp: one load thread's event loop and the connection state machine
// (see worker.h): the transitions, driven by socket and timer events. What
// the machine decides or drives without a socket lives elsewhere: the rules
// (may send, next deadline, timeout, back-off) in connection_state.h, socket
// setup in dialer.h, the open-loop schedule and connect ramp in schedule.h,
// the write pipeline in pipeline.h, measurement in recorder.h, request
// choice in requests.h and response framing in response_reader.h.
//
// A connection is one Conn (connection_state.h) in a per-thread array: its socket, its reader
// (the protocol's response parser), one timer and its Pipeline (the ring of
// requests in flight, each with its intended and actual send times). The
// timer is shared by everything a connection waits for (connect timeout,
// request timeout, the next open-loop send, a reconnect) and is re-armed
// lazily: only when the new deadline is earlier than the armed one; when it
// fires it works out what is due and re-arms for what is left.
//
// Hot path per response: one read into the thread's buffer, the reader
// consumes the bytes in place, two histogram increments, and one write
// (writev of the prebuilt request bytes) for every request it frees up.
// Nothing allocates and nothing prints: errors are counted by class.
//
// Sockets are reconnected only from the timer, which the loop runs after all
// I/O events of an iteration, so a stale event for a closed socket can never
// reach its successor (a Conn in kIdle ignores I/O events).
#include "worker.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>

#include "common/io.h"
#include "connection_state.h"
#include "dialer.h"
#include "event/epoll_poller.h"
#include "event/event_loop.h"
#include "pipeline.h"
#include "requests.h"
#include "response_reader.h"
#include "schedule.h"

namespace cb::loadgen {

int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             event::Clock::now().time_since_epoch())
      .count();
}

void SharedRun::stop_all() const {
  uint64_t one = 1;
  ssize_t n = ::write(stop_fd, &one, sizeof one);
  (void)n;  // an eventfd that cannot take more is already readable
}

namespace {

using Loop = event::EventLoop<event::EpollPoller>;

int64_t to_ns(event::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
event::Clock::time_point from_ns(int64_t ns) {
  return event::Clock::time_point(
      std::chrono::duration_cast<event::Clock::duration>(std::chrono::nanoseconds(ns)));
}

// 64 KiB: a whole pipeline of typical responses per read, and one buffer per
// thread rather than per connection, so idle connections cost no buffer.
constexpr std::size_t kReadBufferSize = 64 * 1024;
// Requests gathered into one writev; more are written in further calls.
constexpr int kMaxIov = 64;

// The ramp and phase timers and the stop eventfd: back to the Worker.
struct WorkerHandler : event::Handler {
  void* worker;
};

template <class Reader>
class Worker {
 public:
  Worker(const WorkerPlan& plan, WorkerResult& out);
  void run();

 private:
  using C = Conn<Reader>;
  static void on_conn_event(event::Handler* h, uint32_t events);
  static void on_ramp(event::Handler* h, uint32_t events);
  static void on_phase(event::Handler* h, uint32_t events);
  static void on_stop(event::Handler* h, uint32_t events);

  // Connection life cycle.
  void begin(C& c, int64_t now);
  void start_connect(C& c, int64_t now);
  void finish_connect(C& c);
  void on_connected(C& c, int64_t now);
  void close_conn(C& c, int64_t now, ErrorClass why, int err);
  void note_first_attempt_failed(C& c);
  void count_unanswered_through_window();
  void close_quietly(C& c, int64_t now);
  void release(C& c);
  void on_timer(C& c);
  void rearm(C& c, int64_t now);

  // Requests and responses.
  bool may_send(const C& c, int64_t now) const { return rules_.may_send(c, quota_left_, now); }
  void pump(C& c, int64_t now, bool on_schedule);
  void queue_request(C& c, int64_t now, bool on_schedule);
  bool flush(C& c, int64_t now);
  void set_write_interest(C& c, bool on);
  void on_readable(C& c, bool hangup);
  bool consume(C& c, const char* data, std::size_t n, int64_t now);
  void complete(C& c, const Response& r, int64_t now);
  void on_eof(C& c, int64_t now);

  void check_done();

  const LoadConfig& cfg_;
  const WorkerPlan& plan_;
  WorkerResult& out_;
  Timeline tl_;
  Loop loop_;
  RequestSet requests_;
  RequestPicker picker_;
  Dialer dialer_;
  Schedule schedule_;
  Recorder rec_;
  std::unique_ptr<C[]> conns_;
  std::unique_ptr<InFlight[]> ring_;
  std::unique_ptr<char[]> buf_;
  uint32_t nconns_ = 0;
  uint32_t started_ = 0;  // connections begun by the ramp
  uint16_t depth_;
  bool close_mode_;
  bool open_loop_;
  ConnRules rules_;
  uint64_t quota_left_;
  uint64_t inflight_total_ = 0;
  WorkerHandler ramp_handler_{}, phase_handler_{}, stop_handler_{};
  event::Timer ramp_timer_, phase_timer_;
};

template <class Reader>
Worker<Reader>::Worker(const WorkerPlan& plan, WorkerResult& out)
    : cfg_(*plan.config),
      plan_(plan),
      out_(out),
      tl_(plan.timeline),
      // Edge-triggered: level-triggered epoll re-polls every socket it
      // reported on the next wait, a cost per response for nothing.
      loop_(event::EpollPoller::Trigger::kEdge),
      requests_(cfg_),
      picker_(RequestPicker::for_thread(cfg_, plan.index)),
      dialer_(cfg_),
      schedule_(Schedule::for_run(cfg_, plan.threads, plan.timeline.start_ns)),
      // One latency class per request of the set (the class index is the
      // request index that already travels in each InFlight), or one for all.
      rec_(plan.timeline.measure_ns, plan.timeline.end_ns, cfg_.proto == Proto::kHttp,
           cfg_.class_per_path ? static_cast<uint32_t>(requests_.size()) : 1u, out.measured, *plan.live),
      buf_(new char[kReadBufferSize]),
      depth_(static_cast<uint16_t>(cfg_.close_after_request ? 1 : cfg_.pipeline)),
      close_mode_(cfg_.close_after_request),
      open_loop_(schedule_.open_loop()),
      rules_{open_loop_, close_mode_, cfg_.request_timeout.count()},
      quota_left_(plan.request_quota == 0 ? UINT64_MAX : plan.request_quota) {
  uint32_t total = static_cast<uint32_t>(cfg_.connections);
  uint32_t t = static_cast<uint32_t>(plan.threads), me = static_cast<uint32_t>(plan.index);
  nconns_ = total / t + (me < total % t ? 1 : 0);
  conns_.reset(new C[nconns_]);
  ring_.reset(new InFlight[static_cast<std::size_t>(nconns_) * depth_]);
  for (uint32_t i = 0; i < nconns_; ++i) {
    C& c = conns_[i];
    c.on_event = &Worker::on_conn_event;
    c.timer.handler = &c;
    c.owner = this;
    c.pipe.attach(&ring_[static_cast<std::size_t>(i) * depth_], depth_);
    c.id = me + i * t;
  }
  rec_.enable_series(series_origin(tl_.warmup_ns, tl_.measure_ns, cfg_.interval.count()), cfg_.interval.count());
  ramp_handler_ = {{&Worker::on_ramp}, this};
  phase_handler_ = {{&Worker::on_phase}, this};
  stop_handler_ = {{&Worker::on_stop}, this};
  ramp_timer_.handler = &ramp_handler_;
  phase_timer_.handler = &phase_handler_;
}

template <class Reader>
void Worker<Reader>::run() {
  loop_.watch(plan_.shared->stop_fd, event::kReadable, &stop_handler_);
  if (plan_.extra_stop_fd >= 0) {
    loop_.watch(plan_.extra_stop_fd, event::kReadable, &stop_handler_);
  }
  loop_.arm(&ramp_timer_, from_ns(tl_.start_ns));
  loop_.arm(&phase_timer_, from_ns(tl_.measure_ns));
  if (nconns_ == 0) out_.stop_reason = "requests";
  while (!loop_.stopping() && nconns_ > 0) loop_.run_once();
  int64_t now = to_ns(loop_.refresh_now());
  out_.end_ns = std::min(now, tl_.end_ns);
  if (rec_.window_open()) {
    rec_.close_window();
    count_unanswered_through_window();
  }
  for (uint32_t i = 0; i < nconns_; ++i) rec_.connection_slot(conns_[i].window_requests);
  for (uint32_t i = 0; i < nconns_; ++i) conns_[i].fd.reset();
}

// ---- event entry points -------------------------------------------------

template <class Reader>
void Worker<Reader>::on_conn_event(event::Handler* h, uint32_t events) {
  C& c = *event::owner_of<C>(h);
  Worker& w = *static_cast<Worker*>(c.owner);
  if (events & event::kTimer) {
    w.on_timer(c);
    return;
  }
  switch (c.state) {
    case ConnState::kConnecting:
      w.finish_connect(c);
      return;
    case ConnState::kOpen:
      if (events & event::kReadable) {
        w.on_readable(c, (events & event::kHangup) != 0);
      } else if ((events & event::kWritable) && w.flush(c, to_ns(w.loop_.now()))) {
        w.rearm(c, to_ns(w.loop_.now()));
      }
      return;
    case ConnState::kIdle:
      return;  // a stale event of a socket closed earlier in this iteration
  }
}

// Starts the connections whose turn has come (all at once without a ramp).
template <class Reader>
void Worker<Reader>::on_ramp(event::Handler* h, uint32_t) {
  Worker& w = *static_cast<Worker*>(event::owner_of<WorkerHandler>(h)->worker);
  int64_t now = to_ns(w.loop_.now());
  uint32_t due = w.schedule_.ramp_due(now, w.nconns_);
  while (w.started_ < due) w.begin(w.conns_[w.started_++], now);
  if (w.started_ < w.nconns_) {
    w.loop_.arm(&w.ramp_timer_, from_ns(w.schedule_.ramp_next(w.started_, now)));
  }
}

// The measured window opens (CPU sample), then closes (stop).
template <class Reader>
void Worker<Reader>::on_phase(event::Handler* h, uint32_t) {
  Worker& w = *static_cast<Worker*>(event::owner_of<WorkerHandler>(h)->worker);
  if (!w.rec_.window_open()) {
    w.rec_.open_window();
    if (w.tl_.end_ns != INT64_MAX) w.loop_.arm(&w.phase_timer_, from_ns(w.tl_.end_ns));
    return;
  }
  w.out_.stop_reason = "duration";
  w.loop_.stop();
}

template <class Reader>
void Worker<Reader>::on_stop(event::Handler* h, uint32_t) {
  Worker& w = *static_cast<Worker*>(event::owner_of<WorkerHandler>(h)->worker);
  w.out_.stop_reason = w.plan_.shared->unreachable.load() ? "unreachable" : "stopped";
  w.loop_.stop();
}

// ---- connection life cycle ------------------------------------------------

template <class Reader>
void Worker<Reader>::begin(C& c, int64_t now) {
  if (close_mode_) {
    // One request per connection: the schedule runs from now and a socket
    // is opened for each request when it is due.
    if (open_loop_) c.next_intended_ns = schedule_.first_slot(c.id, now);
    c.retry_at_ns = 0;
    rearm(c, now);
    return;
  }
  start_connect(c, now);
}

template <class Reader>
void Worker<Reader>::start_connect(C& c, int64_t now) {
  if (quota_left_ == 0) return;
  rec_.connect_attempt();
  c.retry_at_ns = 0;
  c.pipe.restart_count();
  DialResult d = dialer_.start(c.id);
  if (!d.fd) return close_conn(c, now, ErrorClass::kConnect, d.error);
  c.fd = std::move(d.fd);
  c.state = ConnState::kConnecting;
  c.connect_deadline_ns = now + cfg_.connect_timeout.count();
  loop_.watch(c.fd.get(), event::kWritable, &c);
  // --close: the request counts from the start of its connection.
  if (close_mode_ && may_send(c, now)) queue_request(c, now, true);
  rearm(c, now);
}

template <class Reader>
void Worker<Reader>::finish_connect(C& c) {
  int64_t now = to_ns(loop_.now());
  int err = connect_error(c.fd.get());
  if (err != 0) return close_conn(c, now, ErrorClass::kConnect, err);
  on_connected(c, now);
}

template <class Reader>
void Worker<Reader>::on_connected(C& c, int64_t now) {
  c.state = ConnState::kOpen;
  c.connect_failures = 0;
  c.first_attempt_done = true;
  rec_.connection_opened();
  if (!plan_.shared->any_connected.load(std::memory_order_relaxed)) {
    plan_.shared->any_connected.store(true, std::memory_order_relaxed);
  }
  loop_.modify(c.fd.get(), event::kReadable, &c);
  c.want_write = false;
  // Each connection's schedule starts once it can first send, so connection
  // set-up is not charged to the server as lateness.
  if (open_loop_ && c.next_intended_ns == 0) c.next_intended_ns = schedule_.first_slot(c.id, now);
  pump(c, now, false);  // --close: writes the request queued at connect
  if (c.state == ConnState::kOpen) rearm(c, now);
}

// At the end: the requests still queued or in flight that were due before
// the window opened (see Counters::unanswered_through_window).
template <class Reader>
void Worker<Reader>::count_unanswered_through_window() {
  for (uint32_t i = 0; i < nconns_; ++i) {
    const Pipeline& p = conns_[i].pipe;
    for (uint16_t k = 0; k < p.inflight(); ++k) rec_.unanswered(p.at(k).intended_ns);
  }
}

// Closes the socket after a failure: counts it, drops what was in flight and
// schedules the reconnect.
template <class Reader>
void Worker<Reader>::close_conn(C& c, int64_t now, ErrorClass why, int err) {
  rec_.error(why, err, now);
  bool connect_failed = why == ErrorClass::kConnect;
  if (connect_failed && !c.first_attempt_done) note_first_attempt_failed(c);
  release(c);
  int64_t backoff = connect_failed ? ConnRules::backoff_ns(c.connect_failures) : 0;
  c.retry_at_ns = close_mode_ && !connect_failed ? 0 : now + backoff;
  rearm(c, now);
  check_done();
}

// Once every connection's first attempt failed and none ever succeeded, the
// target is unreachable: the whole run stops.
template <class Reader>
void Worker<Reader>::note_first_attempt_failed(C& c) {
  c.first_attempt_done = true;
  SharedRun& s = *plan_.shared;
  uint64_t failed = s.first_attempts_failed.fetch_add(1) + 1;
  if (cfg_.give_up_if_unreachable && failed == s.total_connections && !s.any_connected.load()) {
    s.unreachable.store(true);
    s.stop_all();
  }
}

// Closes a socket that ended normally (--close, Connection: close, or the
// server closing an idle connection).
template <class Reader>
void Worker<Reader>::close_quietly(C& c, int64_t now) {
  release(c);
  c.retry_at_ns = close_mode_ ? 0 : now;
  rearm(c, now);
  check_done();
}

template <class Reader>
void Worker<Reader>::release(C& c) {
  if (c.state == ConnState::kOpen) rec_.connection_closed();
  c.fd.reset();  // closing the only reference also removes it from epoll
  inflight_total_ -= c.pipe.inflight();
  c.pipe.clear();
  c.want_write = false;
  c.reader.reset();
  c.state = ConnState::kIdle;
}

template <class Reader>
void Worker<Reader>::on_timer(C& c) {
  int64_t now = to_ns(loop_.now());
  switch (c.state) {
    case ConnState::kConnecting:
      if (now >= c.connect_deadline_ns) return close_conn(c, now, ErrorClass::kConnect, ETIMEDOUT);
      break;
    case ConnState::kOpen:
      if (rules_.timed_out(c, now)) return close_conn(c, now, ErrorClass::kTimeout, 0);
      pump(c, now, true);
      if (c.state != ConnState::kOpen) return;
      break;
    case ConnState::kIdle:
      if (close_mode_ ? (now >= c.retry_at_ns && may_send(c, now))
                      : (c.retry_at_ns != 0 && now >= c.retry_at_ns)) {
        start_connect(c, now);
        return;
      }
      break;
  }
  rearm(c, now);
}

// Arms the timer for the earliest thing this connection waits for, unless
// it is already armed earlier (then it will fire, find nothing, re-arm).
template <class Reader>
void Worker<Reader>::rearm(C& c, int64_t now) {
  int64_t when = rules_.next_deadline(c, quota_left_, now);
  if (when == INT64_MAX) return;
  if (!c.timer.armed() || when < to_ns(c.timer.deadline)) loop_.arm(&c.timer, from_ns(when));
}

// ---- requests and responses ----------------------------------------------

// Fills free pipeline slots with requests that are due, then writes them.
// `on_schedule`: called at the intended time (timer); otherwise a slot has
// just been freed, and open-loop requests already due were late.
template <class Reader>
void Worker<Reader>::pump(C& c, int64_t now, bool on_schedule) {
  while (!c.pipe.full() && may_send(c, now)) queue_request(c, now, on_schedule);
  if (c.pipe.unsent() > 0) flush(c, now);
}

template <class Reader>
void Worker<Reader>::queue_request(C& c, int64_t now, bool on_schedule) {
  InFlight& f = c.pipe.push();
  f.sent_ns = now;
  f.request = picker_.next();
  if (open_loop_) {
    f.intended_ns = c.next_intended_ns;
    c.next_intended_ns = schedule_.next_slot(c.next_intended_ns);
    if (!on_schedule && f.intended_ns < now) rec_.late(now);
  } else {
    f.intended_ns = now;
  }
  ++inflight_total_;
  if (now >= tl_.measure_ns && quota_left_ != UINT64_MAX) --quota_left_;
}

// Writes every unsent request, gathered into as few writev calls as the
// socket takes. Returns false if the connection was closed on an error.
template <class Reader>
bool Worker<Reader>::flush(C& c, int64_t now) {
  while (c.pipe.unsent() > 0) {
    iovec iov[kMaxIov];
    int n = c.pipe.gather(requests_, iov, kMaxIov);
    ssize_t written = send_iov(c.fd.get(), iov, n);
    if (written < 0) {
      int err = errno;
      if (err == EAGAIN) break;
      bool reset = io::classify_errno(err) == IoStatus::kReset;
      close_conn(c, now, reset ? ErrorClass::kReset : ErrorClass::kWrite, err);
      return false;
    }
    rec_.bytes_written(now, static_cast<uint64_t>(written));
    if (!c.pipe.advance(iov, n, static_cast<std::size_t>(written))) break;  // the socket is full
  }
  set_write_interest(c, c.pipe.unsent() > 0);
  return true;
}

template <class Reader>
void Worker<Reader>::set_write_interest(C& c, bool on) {
  if (c.want_write == on) return;
  c.want_write = on;
  loop_.modify(c.fd.get(), on ? event::kReadable | event::kWritable : event::kReadable, &c);
}

template <class Reader>
void Worker<Reader>::on_readable(C& c, bool hangup) {
  // One clock read per readable event: the receive time of every response
  // in this read.
  int64_t now = to_ns(loop_.refresh_now());
  // Edge-triggered: a short read means the socket is drained (data arriving
  // later is a new edge), so one read per event is enough, unless the edge
  // also carried the peer's FIN: nothing will signal it again, so read on
  // until EOF.
  for (;;) {
    IoResult r = io::recv_some(c.fd.get(), {buf_.get(), kReadBufferSize});
    if (r.status == IoStatus::kOk) {
      rec_.bytes_read(now, r.bytes);
      if (!consume(c, buf_.get(), r.bytes, now)) return;
      if (r.bytes < kReadBufferSize && !hangup) break;
      continue;
    }
    if (r.status == IoStatus::kRetry) break;
    if (r.status == IoStatus::kClosed) return on_eof(c, now);
    return close_conn(c, now, r.status == IoStatus::kReset ? ErrorClass::kReset : ErrorClass::kRead,
                      r.error);
  }
  pump(c, now, false);
  if (c.state == ConnState::kOpen) rearm(c, now);
}

// Feeds the bytes to the reader, one response at a time. Returns false if
// the connection was closed.
template <class Reader>
bool Worker<Reader>::consume(C& c, const char* data, std::size_t n, int64_t now) {
  while (n > 0) {
    if (c.pipe.all_unwritten()) {
      // Bytes nobody asked for: the stream is out of step with the requests.
      bool echo = cfg_.proto == Proto::kEcho;
      close_conn(c, now, echo ? ErrorClass::kMismatch : ErrorClass::kRead, 0);
      return false;
    }
    Response resp;
    FeedResult fr = c.reader.feed(requests_.payload(), data, n, resp);
    data += fr.used;
    n -= fr.used;
    if (fr.status == FeedStatus::kMalformed) {
      close_conn(c, now, ErrorClass::kRead, 0);
      return false;
    }
    if (fr.status == FeedStatus::kComplete) {
      complete(c, resp, now);
      if (resp.close || close_mode_) {
        // Requests pipelined behind a closing response will never be
        // answered: that is a read error, not a quiet close.
        if (c.pipe.inflight() > 0) {
          close_conn(c, now, ErrorClass::kRead, 0);
        } else {
          close_quietly(c, now);
        }
        return false;
      }
    }
  }
  return true;
}

template <class Reader>
void Worker<Reader>::complete(C& c, const Response& r, int64_t now) {
  const InFlight& f = c.pipe.oldest();
  uint32_t cls = cfg_.class_per_path ? f.request : 0;
  if (rec_.response(now, f.intended_ns, f.sent_ns, cls, r)) ++c.window_requests;
  c.pipe.pop();
  --inflight_total_;
  if (quota_left_ == 0) check_done();
}

template <class Reader>
void Worker<Reader>::on_eof(C& c, int64_t now) {
  Response resp;
  if (c.reader.complete_on_eof(resp)) {
    complete(c, resp, now);  // a response framed by the close itself
    if (c.pipe.inflight() == 0) return close_quietly(c, now);
  }
  if (c.pipe.inflight() > 0) return close_conn(c, now, ErrorClass::kRead, 0);
  if (!close_mode_) rec_.closed_by_server();
  close_quietly(c, now);
}

// ---- helpers ---------------------------------------------------------------

// With -n: the thread is done once its share is sent and answered (or lost).
template <class Reader>
void Worker<Reader>::check_done() {
  if (quota_left_ == 0 && inflight_total_ == 0 && !loop_.stopping()) {
    out_.stop_reason = "requests";
    loop_.stop();
  }
}

template <class Reader>
void run_typed(const WorkerPlan& plan, WorkerResult& result) {
  auto worker = std::make_unique<Worker<Reader>>(plan, result);
  worker->run();
}

}  // namespace

void run_worker(const WorkerPlan& plan, WorkerResult& result) {
  try {
    if (plan.config->proto == Proto::kEcho) {
      run_typed<EchoReader>(plan, result);
    } else {
      run_typed<HttpReader>(plan, result);
    }
  } catch (const std::exception& e) {
    result.error = e.what();
    plan.shared->stop_all();
  }
}

}  // namespace cb::loadgen
