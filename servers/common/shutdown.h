// shutdown.h: signal setup shared by every model. SIGPIPE is ignored (a peer
// that vanishes shows up as EPIPE, counted as a reset). SIGTERM and SIGINT set
// a flag and make stop_fd() readable; it stays readable, so every loop in
// every thread that watches it (poll, epoll, a fiber hub) wakes and exits.
#pragma once

#include <signal.h>

namespace cb {

// The signals that request a stop (SIGTERM, SIGINT). A thread that runs
// user-level fibers blocks them and lets them in only while it waits in its
// poller (fiber/scheduler.cpp), so a handler always runs on the thread's own
// stack, never in a fiber's frame (where TSan defers it into the fiber's
// state, and loses it if the fiber then ends or parks for good).
sigset_t stop_signals();

void install_signal_handlers();
bool stop_requested();
int stop_fd();        // an eventfd that becomes readable once stop is requested
void request_stop();  // what the signal handler does; also usable by tests

}  // namespace cb
