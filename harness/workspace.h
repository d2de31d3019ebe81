// workspace.h: the harness's scratch space: a temporary directory (removed
// with everything in it when the harness ends) holding the servers'
// counter files and the HTTP docroot.
//
// The docroot holds one file per configured size, named after its size in
// bytes ("/f1024.bin", "/f65536.bin", ...), filled with a repeating printable
// pattern so a truncated or corrupted response cannot look right by chance.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cb::harness {

class TempDir {
 public:
  // mkdtemp under `base`, or $TMPDIR (else /tmp) when base is empty;
  // throws cb::SysError.
  explicit TempDir(const std::string& prefix, const std::string& base = "");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The URL path of the docroot file of `bytes` bytes.
std::string docroot_path_for(uint64_t bytes);

// Creates `dir` (if needed) and one file per size in it; throws cb::SysError.
void make_docroot(const std::string& dir, const std::vector<uint64_t>& sizes);

// Where the servers' counter files go: /dev/shm (tmpfs) when writable, so
// a thousand processes writing one shared page never wait for a disk's
// writeback; else "" (the TempDir default).
std::string counters_base_dir();

// Writes all `size` bytes to `fd` (retrying short writes and EINTR); throws
// cb::SysError naming `path`.
void write_all(int fd, const std::string& path, const char* data, std::size_t size);

// Recursively removes `path`; quiet if it is missing.
void remove_tree(const std::string& path);

}  // namespace cb::harness
