// connection_set.h: the live connections of the thread-based models, so a
// clean shutdown can wake every thread blocked in read() (shutdown(2) makes
// the read return 0) and wait until all of them have finished.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <unordered_set>

namespace cb {

class ConnectionSet {
 public:
  void add(int fd) {
    std::lock_guard lock(mutex_);
    fds_.insert(fd);
    if (shutting_down_) ::shutdown(fd, SHUT_RDWR);
  }

  void remove(int fd) {
    std::lock_guard lock(mutex_);
    fds_.erase(fd);
    if (fds_.empty()) drained_.notify_all();
  }

  // Ends every connection's blocking I/O; new ones are ended as they arrive.
  void shutdown_all() {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }

  bool wait_empty(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return drained_.wait_for(lock, limit, [this] { return fds_.empty(); });
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return fds_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable drained_;
  std::unordered_set<int> fds_;
  bool shutting_down_ = false;
};

}  // namespace cb
