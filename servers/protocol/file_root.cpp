// file_root.cpp: FileRoot, which opens request paths beneath the served
// directory and nowhere else.
//
// Two guards: a lexical one here (no ".." segment, no NUL: refused with 400
// rather than normalised) and the kernel's, openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS), which refuses absolute symlinks and symlinks whose
// target leaves the root (EXDEV). Whatever the kernel refuses is a 404: the
// file is not found beneath this root, and the client learns nothing about
// the layout around it. Where openat2 is missing, a walk of one openat per
// component with O_NOFOLLOW refuses every symlink instead.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

#include "common/status.h"
#include "protocol/http.h"

namespace cb::proto {
namespace {

constexpr std::size_t npos = std::string_view::npos;

// O_NONBLOCK: opening a FIFO must not wait for a writer (fstat then refuses
// it); it changes nothing for regular files. O_NOCTTY: a terminal in the root
// must never become the server's controlling terminal.
constexpr int kFileFlags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
// Directories crossed on the way; O_PATH needs no read permission.
constexpr int kDirFlags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
// openat2 may answer EAGAIN when a rename races the lookup; retry a little.
constexpr int kOpenTries = 3;

long sys_openat2(int dir, const char* path, int flags) {
  open_how how{};
  how.flags = static_cast<unsigned>(flags);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return ::syscall(SYS_openat2, dir, path, &how, sizeof how);
}

// ".." anywhere (even where the kernel would keep it inside the root) and NUL
// (which would cut the C string short) are refused outright.
bool lexically_safe(std::string_view path) {
  if (path.empty() || path.front() != '/' || path.find('\0') != npos) return false;
  for (std::size_t begin = 0; begin <= path.size();) {
    std::size_t end = path.find('/', begin);
    if (end == npos) end = path.size();
    if (path.substr(begin, end - begin) == "..") return false;
    begin = end + 1;
  }
  return true;
}

// Everything the kernel refuses about the path itself is "not here": 404.
// Running out of descriptors or memory is the server's fault: 500.
int status_for_errno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case EACCES:
    case EPERM:
    case ELOOP:
    case EXDEV:
    case ENAMETOOLONG:
    case ENXIO:
    case ENODEV:
    case EISDIR:
      return 404;
    default:
      return 500;
  }
}

// The next path component after *pos, skipping empty and "." ones; empty at
// the end.
std::string_view next_component(std::string_view path, std::size_t* pos) {
  while (*pos < path.size()) {
    std::size_t end = path.find('/', *pos);
    if (end == npos) end = path.size();
    std::string_view part = path.substr(*pos, end - *pos);
    *pos = end + 1;
    if (!part.empty() && part != ".") return part;
  }
  *pos = path.size();
  return {};
}

}  // namespace

FileRoot::FileRoot(const std::string& directory) {
  int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw SysError("open(" + directory + ")", errno);
  dir_.reset(fd);
  // Probe once: ENOSYS before Linux 5.6, EPERM under seccomp filters that
  // predate openat2. Either way every request takes the fallback.
  long probe = sys_openat2(fd, ".", O_PATH | O_CLOEXEC);
  if (probe >= 0) {
    ::close(static_cast<int>(probe));
  } else {
    int err = errno;
    use_openat2_ = err != ENOSYS && err != EPERM;
  }
}

int FileRoot::open_beneath(const char* relative) const {
  if (!use_openat2_) return open_by_components(relative);
  for (int attempt = 1;; ++attempt) {
    long fd = sys_openat2(dir_.get(), relative, kFileFlags);
    if (fd >= 0) return static_cast<int>(fd);
    int err = errno;
    if (err == ENOSYS) return open_by_components(relative);
    if ((err == EINTR || err == EAGAIN) && attempt < kOpenTries) continue;
    return -err;
  }
}

int FileRoot::open_by_components(std::string_view relative) const {
  // A trailing slash asks for a directory, as it does for open(2).
  int last_flags = kFileFlags | O_NOFOLLOW;
  if (!relative.empty() && relative.back() == '/') last_flags |= O_DIRECTORY;
  std::size_t pos = 0;
  std::string_view part = next_component(relative, &pos);
  if (part.empty()) part = ".";  // the root itself
  Fd dir;  // the directory reached so far; the root while empty
  for (;;) {
    std::string_view next = next_component(relative, &pos);
    if (part.size() > NAME_MAX) return -ENAMETOOLONG;
    char name[NAME_MAX + 1];
    std::memcpy(name, part.data(), part.size());
    name[part.size()] = '\0';
    int at = dir ? dir.get() : dir_.get();
    int fd;
    do fd = ::openat(at, name, next.empty() ? last_flags : kDirFlags);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return -errno;
    if (next.empty()) return fd;
    dir.reset(fd);
    part = next;
  }
}

FileRoot::Opened FileRoot::open(std::string_view path) const {
  Opened r;
  if (!lexically_safe(path)) {
    r.status = 400;
    return r;
  }
  // Reused by every request of this thread: no allocation per request.
  thread_local std::string relative;
  std::size_t first = path.find_first_not_of('/');  // "//etc" is "etc" here
  relative.assign(first == npos ? std::string_view(".") : path.substr(first));

  struct stat st {};
  auto open_and_stat = [&]() -> int {
    int fd = open_beneath(relative.c_str());
    if (fd < 0) return -fd;
    r.file.reset(fd);
    return ::fstat(fd, &st) == 0 ? 0 : errno;
  };
  int err = open_and_stat();
  if (err == 0 && S_ISDIR(st.st_mode) && relative != "." && relative.back() != '/') {
    // "/dir" names a directory: the client is sent to "/dir/" (301), so
    // that relative links in its index.html resolve beneath it.
    r.file.reset();
    r.status = 301;
    return r;
  }
  if (err == 0 && S_ISDIR(st.st_mode)) {
    // A directory is served by its index.html, looked up from the root again
    // so that an index.html symlinked elsewhere inside the root works too.
    if (relative == ".") relative.clear();
    if (!relative.empty() && relative.back() != '/') relative += '/';
    relative += "index.html";
    err = open_and_stat();
  }
  if (err == 0 && !S_ISREG(st.st_mode)) err = ENOENT;  // FIFOs, devices, sockets
  if (err != 0) {
    r.file.reset();
    r.status = status_for_errno(err);
    return r;
  }
  r.status = 200;
  r.size = static_cast<uint64_t>(st.st_size);
  r.content_type = content_type_for(relative);
  return r;
}

}  // namespace cb::proto
