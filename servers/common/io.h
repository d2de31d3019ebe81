// io.h: the I/O primitives every model uses. Each is one syscall (retried on
// EINTR) mapped to an IoStatus, so blocking and non-blocking callers share
// them: a blocking fd never returns kRetry, a non-blocking one may.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <string_view>

#include "common/status.h"

namespace cb::io {

IoResult read_some(int fd, std::span<char> into);
// recv(2) on a socket: what read_some does, without read(2)'s file layer
// (fdget_pos, vfs_read, the iov_iter set-up): about 4% of a load thread's
// CPU per 1 KiB response in perf.
IoResult recv_some(int sock_fd, std::span<char> into);
IoResult write_some(int fd, std::string_view bytes);
IoResult writev_some(int fd, std::span<const iovec> parts);
// sendfile(2) from file_fd at *offset; advances *offset by what was sent.
IoResult sendfile_some(int sock_fd, int file_fd, off_t* offset, std::size_t count);
// send(2) with MSG_MORE: the kernel may hold the bytes back until the next
// send or sendfile on the socket, so they leave in the same segments.
IoResult send_more(int sock_fd, std::string_view bytes);

// Reads exactly `size` bytes of a regular file from offset 0 (pread,
// retried on EINTR and short reads). False on an error or a file shorter
// than `size` (it shrank since it was measured).
bool pread_exact(int fd, char* into, std::size_t size);

// Maps an errno from a read/write/sendfile to a status.
IoStatus classify_errno(int err);

}  // namespace cb::io
