// tsan_suppressions.cpp: linked into bench_server in TSan builds only
// (CB_SANITIZE=thread). TSan reads these through its weak hook, so a test
// that runs the server needs no TSAN_OPTIONS.
//
// One suppression, for a false positive of TSan's descriptor model:
// pool:ready re-arms a connection with epoll_ctl(EPOLL_CTL_MOD) in one worker,
// and the worker that gets its next event may close it. The kernel orders the
// two (the event exists only once the re-arm took effect, and epoll_ctl holds
// its own reference to the file), but TSan's epoll_ctl records its read of
// the descriptor without a release unless the operation is EPOLL_CTL_ADD, so
// the close looks unordered. The memory the workers share is ordered by the
// release/acquire pair on the connection (models/pool.cpp), which TSan checks.
// EpollPoller::modify touches no shared memory of ours: a report with it on
// the stack can only be this one.
extern "C" const char* __tsan_default_suppressions() {
  return "race:cb::event::EpollPoller::modify\n";
}
