// backend_mux.h: the event loop's backend client, for the reactor. Nothing
// here blocks: a request's call is written to one of a few backend
// connections and the request parks (its MuxCall waits in that connection's
// FIFO) while the loop serves others; the backend's readiness resumes it.
// Calls are pipelined: one connection carries many outstanding calls, and
// its replies come back in order (the backend's rule), so the FIFO's head is
// always the call the next reply answers.
//
// Connections are opened on first use (a blocking connect: on loopback it
// completes at once), round-robin over at most `max_conns`. A connection
// that fails fails every call it carries (502 for their requests) and is
// reopened on next use. All of it runs on the loop's thread.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/counters.h"
#include "common/fd.h"
#include "common/io.h"
#include "common/socket.h"
#include "event/event_loop.h"
#include "protocol/app.h"
#include "protocol/backend_frame.h"
#include "session/app_step.h"
#include "session/backend_pool.h"

namespace cb {

// One request's calls in flight. The owner keeps it alive until done() has
// been called or the mux was told to forget it (abandon_all).
struct MuxCall {
  uint32_t calls_left = 0;
  uint32_t delay_us = 0;
  uint32_t cpu_us = 0;
  MuxCall* next = nullptr;  // the FIFO of the connection it waits on
  void (*done)(MuxCall* self, proto::AppOutcome outcome) = nullptr;
};

template <class Loop>
class BackendMux {
 public:
  BackendMux(Loop& loop, std::string host, uint16_t port, int max_conns, CounterBlock& c)
      : loop_(loop), host_(std::move(host)), port_(port), counters_(&c) {
    links_.resize(static_cast<std::size_t>(std::max(1, max_conns)));
  }
  BackendMux(const BackendMux&) = delete;
  BackendMux& operator=(const BackendMux&) = delete;
  ~BackendMux() {
    for (auto& link : links_) {
      if (link) close(*link);
    }
  }

  // Sends the first of call->calls_left calls (at least one).
  void start(MuxCall* call) {
    Link& link = pick();
    if (!link.fd && !open(link)) return fail_later(link, call);
    send(link, call);
  }

  // Shutdown: the owners are about to free their calls; never call them.
  void abandon_all() {
    for (auto& link : links_) {
      if (link) link->head = link->tail = nullptr;
    }
  }

 private:
  struct Link : event::Handler {
    BackendMux* owner = nullptr;
    Fd fd;
    std::string out;          // frames not yet written
    std::size_t out_sent = 0;
    bool writing = false;     // watching for writability
    proto::ReplyReader reader;
    MuxCall* head = nullptr;  // the call the next reply answers
    MuxCall* tail = nullptr;
    uint32_t next_id = 0;      // the head's id; the others follow it
    uint32_t outstanding = 0;  // calls in the FIFO
    // Failures found while sending (perhaps inside another link's callback)
    // are handled at the next turn of the loop, never re-entrantly.
    event::Timer failure{this};
    bool broken = false;
  };

  Link& pick() {
    std::size_t i = next_link_++ % links_.size();
    if (!links_[i]) {
      links_[i] = std::make_unique<Link>();
      links_[i]->on_event = &BackendMux::on_link_event;
      links_[i]->owner = this;
    }
    return *links_[i];
  }

  bool open(Link& link) {
    Fd fd = connect_backend(host_, port_, *counters_);
    if (!fd) return false;
    if (!loop_.can_watch(fd.get())) {  // select(2): an fd >= FD_SETSIZE
      bump(counters_->backend_errors_connect);
      return false;
    }
    set_nonblocking(fd.get(), true);
    loop_.watch(fd.get(), event::kReadable, &link);
    link.fd = std::move(fd);
    link.broken = false;
    return true;
  }

  void enqueue(Link& link, MuxCall* call) {
    call->next = nullptr;
    ++link.outstanding;
    if (link.tail == nullptr) {
      link.head = link.tail = call;
      link.reader.expect(link.next_id, proto::kAppReplyBytes);
    } else {
      link.tail->next = call;
      link.tail = call;
    }
  }

  void send(Link& link, MuxCall* call) {
    enqueue(link, call);
    uint32_t id = link.next_id + link.outstanding - 1;
    proto::append_request(link.out, {call->delay_us, proto::kAppReplyBytes, id});
    if (!link.writing) write_some(link);
  }

  void write_some(Link& link) {
    while (link.out_sent < link.out.size()) {
      std::string_view rest(link.out.data() + link.out_sent, link.out.size() - link.out_sent);
      IoResult w = io::write_some(link.fd.get(), rest);
      if (w.status == IoStatus::kRetry) return want_write(link, true);
      if (!w.ok()) return break_link(link, w);
      link.out_sent += w.bytes;
    }
    link.out.clear();
    link.out_sent = 0;
    want_write(link, false);
  }

  void want_write(Link& link, bool on) {
    if (link.writing == on) return;
    link.writing = on;
    loop_.modify(link.fd.get(), on ? event::kReadable | event::kWritable : event::kReadable, &link);
  }

  static void on_link_event(event::Handler* h, uint32_t events) {
    Link* link = event::owner_of<Link>(h);
    BackendMux* mux = link->owner;
    if (events & event::kTimer) return mux->fail_all(*link);
    if (link->broken || !link->fd) return;
    if (events & event::kWritable) mux->write_some(*link);
    if (!link->broken && (events & (event::kReadable | event::kHangup))) mux->read_some(*link);
  }

  void read_some(Link& link) {
    IoResult r = io::read_some(link.fd.get(), std::span<char>(scratch_));
    if (r.status == IoStatus::kRetry) return;
    if (!r.ok()) return break_link(link, r);
    std::string_view got(scratch_.data(), r.bytes);
    while (!got.empty()) {
      if (link.head == nullptr) return break_link(link, {IoStatus::kOk, 0, 0});  // unasked bytes
      proto::ReplyStatus s = link.reader.feed(got);
      if (s == proto::ReplyStatus::kError) return break_link(link, {IoStatus::kOk, 0, 0});
      if (s == proto::ReplyStatus::kComplete) answered(link);
    }
  }

  // The head's reply arrived whole and right.
  void answered(Link& link) {
    MuxCall* call = link.head;
    link.head = call->next;
    if (link.head == nullptr) link.tail = nullptr;
    --link.outstanding;
    ++link.next_id;
    if (link.head != nullptr) link.reader.expect(link.next_id, proto::kAppReplyBytes);
    bump(counters_->backend_calls);
    if (--call->calls_left > 0) return start(call);
    // The handler's computing, after its fetches (it blocks this loop).
    burn_cpu(std::chrono::microseconds(call->cpu_us));
    call->done(call, proto::AppOutcome::kOk);
  }

  // Counted now; the calls it carries fail at the next turn of the loop.
  void break_link(Link& link, const IoResult& why) {
    count_backend_failure(*counters_, why);
    link.broken = true;
    loop_.arm(&link.failure, loop_.now());
  }

  void fail_later(Link& link, MuxCall* call) {
    enqueue(link, call);
    link.broken = true;
    loop_.arm(&link.failure, loop_.now());
  }

  // Every call on the link fails; the link is closed, to be reopened.
  void fail_all(Link& link) {
    MuxCall* call = link.head;
    link.head = link.tail = nullptr;
    close(link);
    while (call != nullptr) {
      MuxCall* next = call->next;
      call->done(call, proto::AppOutcome::kBackendFailed);
      call = next;
    }
  }

  void close(Link& link) {
    loop_.cancel(&link.failure);
    if (link.fd) loop_.unwatch(link.fd.get());
    link.fd.reset();
    link.out.clear();
    link.out_sent = 0;
    link.writing = false;
    link.reader = proto::ReplyReader();
    link.next_id = 0;
    link.outstanding = 0;
    link.broken = false;
  }

  Loop& loop_;
  std::string host_;
  uint16_t port_;
  CounterBlock* counters_;
  std::vector<std::unique_ptr<Link>> links_;
  std::size_t next_link_ = 0;
  // Replies are small (kAppReplyBytes); 16 KiB takes a burst of them at once.
  std::array<char, 16 * 1024> scratch_{};
};

}  // namespace cb
