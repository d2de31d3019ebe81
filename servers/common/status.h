// status.h: the small result every I/O helper returns (wrk's OK/ERROR/RETRY,
// plus "closed"), and the error type setup helpers throw with the failing
// call's name, so messages read like "bind(127.0.0.1:8080): Address in use".
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace cb {

enum class IoStatus {
  kOk,      // some bytes moved (see IoResult::bytes)
  kRetry,   // would block: wait for readiness and try again
  kClosed,  // orderly shutdown by the peer (read returned 0)
  kReset,   // ECONNRESET / EPIPE: the peer went away abruptly
  kError,   // any other failure; errno is kept in IoResult::error
};

struct IoResult {
  IoStatus status = IoStatus::kOk;
  std::size_t bytes = 0;
  int error = 0;

  bool ok() const { return status == IoStatus::kOk; }
};

// Thrown by setup helpers (never on the hot path): "what(args): strerror".
class SysError : public std::runtime_error {
 public:
  SysError(const std::string& call, int err);
  int error() const { return error_; }

 private:
  int error_;
};

}  // namespace cb
