// workspace.cpp: see workspace.h.
#include "workspace.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "common/fd.h"
#include "common/status.h"

namespace cb::harness {
namespace {

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  ::remove(path);
  return 0;  // keep going: remove what can be removed
}

}  // namespace

void write_all(int fd, const std::string& path, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SysError("write(" + path + ")", errno);
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

TempDir::TempDir(const std::string& prefix, const std::string& base) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = !base.empty() ? base : tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  std::string templ = dir + "/" + prefix + "XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) throw SysError("mkdtemp(" + templ + ")", errno);
  path_ = templ;
}

TempDir::~TempDir() { remove_tree(path_); }

void remove_tree(const std::string& path) {
  // FTW_DEPTH: children before their directory; FTW_PHYS: never follow links.
  ::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

std::string counters_base_dir() { return ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : ""; }

std::string docroot_path_for(uint64_t bytes) { return "/f" + std::to_string(bytes) + ".bin"; }

void make_docroot(const std::string& dir, const std::vector<uint64_t>& sizes) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw SysError("mkdir(" + dir + ")", errno);
  // 64 printable characters per line, newline-terminated.
  std::string block;
  for (int line = 0; block.size() < 64 * 1024; ++line) {
    for (int i = 0; i < 63; ++i) block.push_back(static_cast<char>('!' + (line + i) % 94));
    block.push_back('\n');
  }
  for (uint64_t size : sizes) {
    std::string path = dir + docroot_path_for(size);
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw SysError("open(" + path + ")", errno);
    for (uint64_t done = 0; done < size;) {
      std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(block.size(), size - done));
      write_all(fd.get(), path, block.data(), n);
      done += n;
    }
  }
}

}  // namespace cb::harness
