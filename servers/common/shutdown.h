// shutdown.h: signal setup shared by every model. SIGPIPE is ignored (a peer
// that vanishes shows up as EPIPE, counted as a reset). SIGTERM and SIGINT set
// a flag and make stop_fd() readable; it stays readable, so every loop in
// every thread that watches it (poll, epoll, a fiber hub) wakes and exits.
#pragma once

namespace cb {

void install_signal_handlers();
bool stop_requested();
int stop_fd();        // an eventfd that becomes readable once stop is requested
void request_stop();  // what the signal handler does; also usable by tests

}  // namespace cb
