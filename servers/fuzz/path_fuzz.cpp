// path_fuzz.cpp: libFuzzer target for the path resolver (FileRoot::open and
// percent_decode). Invariant: whatever the bytes, a file that is opened lies
// beneath the root: its /proc/self/fd link must start with the root's real
// path. The fuzz root holds a symlink to a file outside it, so an escape is
// reachable if the resolver ever follows one.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz/fuzz_root.h"
#include "protocol/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::string raw(reinterpret_cast<const char*>(data), size);
  std::string decoded;
  if (!cb::proto::percent_decode(raw, &decoded)) return 0;
  if (decoded.find('\0') != std::string::npos) std::abort();  // NUL must be refused
  if (decoded.empty() || decoded[0] != '/') decoded.insert(0, "/");
  auto opened = cb::fuzz::root().open(decoded);
  if (opened.status != 200) return 0;
  if (!opened.file) std::abort();
  char link[4096];
  std::string proc = "/proc/self/fd/" + std::to_string(opened.file.get());
  ssize_t n = ::readlink(proc.c_str(), link, sizeof link - 1);
  if (n <= 0) std::abort();
  std::string target(link, static_cast<std::size_t>(n));
  const std::string& base = cb::fuzz::root_path();
  if (target.compare(0, base.size(), base) != 0 ||
      (target.size() > base.size() && target[base.size()] != '/')) {
    std::abort();  // escaped the root
  }
  return 0;
}
