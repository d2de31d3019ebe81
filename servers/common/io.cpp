// io.cpp: see io.h.
#include "common/io.h"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace cb::io {

IoStatus classify_errno(int err) {
  switch (err) {
    case EAGAIN:
      return IoStatus::kRetry;
    case ECONNRESET:
    case EPIPE:
      return IoStatus::kReset;
    default:
      return IoStatus::kError;
  }
}

namespace {

IoResult from_syscall(ssize_t n) {
  if (n > 0) return {IoStatus::kOk, static_cast<std::size_t>(n), 0};
  if (n == 0) return {IoStatus::kClosed, 0, 0};
  int err = errno;
  return {classify_errno(err), 0, err};
}

}  // namespace

IoResult read_some(int fd, std::span<char> into) {
  ssize_t n;
  do n = ::read(fd, into.data(), into.size());
  while (n < 0 && errno == EINTR);
  return from_syscall(n);
}

IoResult recv_some(int sock_fd, std::span<char> into) {
  ssize_t n;
  do n = ::recv(sock_fd, into.data(), into.size(), 0);
  while (n < 0 && errno == EINTR);
  return from_syscall(n);
}

IoResult write_some(int fd, std::string_view bytes) {
  ssize_t n;
  do n = ::write(fd, bytes.data(), bytes.size());
  while (n < 0 && errno == EINTR);
  // A zero-byte write of a non-empty buffer does not mean "closed"; treat it
  // as "try again" (it does not happen on sockets in practice).
  if (n == 0) return {IoStatus::kRetry, 0, 0};
  return from_syscall(n);
}

IoResult writev_some(int fd, std::span<const iovec> parts) {
  ssize_t n;
  do n = ::writev(fd, parts.data(), static_cast<int>(parts.size()));
  while (n < 0 && errno == EINTR);
  if (n == 0) return {IoStatus::kRetry, 0, 0};
  return from_syscall(n);
}

IoResult send_more(int sock_fd, std::string_view bytes) {
  ssize_t n;
  do n = ::send(sock_fd, bytes.data(), bytes.size(), MSG_MORE);
  while (n < 0 && errno == EINTR);
  if (n == 0) return {IoStatus::kRetry, 0, 0};
  return from_syscall(n);
}

IoResult sendfile_some(int sock_fd, int file_fd, off_t* offset, std::size_t count) {
  ssize_t n;
  do n = ::sendfile(sock_fd, file_fd, offset, count);
  while (n < 0 && errno == EINTR);
  // 0 means the file shrank under us: the promised Content-Length cannot be
  // met, so the connection must be dropped.
  if (n == 0) return {IoStatus::kError, 0, 0};
  return from_syscall(n);
}

bool pread_exact(int fd, char* into, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, into + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace cb::io
