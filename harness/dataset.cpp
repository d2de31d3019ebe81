// dataset.cpp: see dataset.h.
#include "dataset.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fd.h"
#include "common/status.h"
#include "common/units.h"
#include "procfs.h"
#include "results.h"
#include "runner.h"
#include "workspace.h"

namespace cb::harness {
namespace {

[[noreturn]] void bad(const std::string& why) { throw std::invalid_argument(why); }

constexpr uint64_t kFilesPerFolder = 1000;
constexpr int kManifestVersion = 1;
constexpr uint64_t kSpecwebSeed = 0x5eb99;

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// SPECweb99's classes: probability (percent) and the size step; a file of
// class c is k steps long, k = 1..9.
struct SizeClass {
  unsigned percent;
  uint32_t step;
};
constexpr SizeClass kSpecweb[] = {{35, 102}, {50, 1024}, {14, 10240}, {1, 102400}};

uint32_t specweb_size(uint64_t& rng) {
  unsigned pick = static_cast<unsigned>(splitmix64(rng) % 100);
  const SizeClass* c = &kSpecweb[0];
  for (const SizeClass& k : kSpecweb) {
    c = &k;
    if (pick < k.percent) break;
    pick -= k.percent;
  }
  return c->step * static_cast<uint32_t>(1 + splitmix64(rng) % 9);
}

std::string folder_of(const std::vector<uint32_t>& sizes, bool specweb) {
  if (specweb) return fmt::format("n{}-specweb", sizes.size());
  return fmt::format("n{}-s{}", sizes.size(), sizes.empty() ? 0 : sizes.front());
}

nlohmann::json manifest_of(const std::vector<uint32_t>& sizes, bool specweb, uint64_t bytes) {
  return {{"version", kManifestVersion},
          {"files", sizes.size()},
          {"bytes", bytes},
          {"sizes", specweb ? "specweb" : fmt::format("fixed {}", sizes.empty() ? 0 : sizes.front())}};
}

// The folder holds a complete set: a matching manifest and every file at
// its size.
bool complete(const std::string& dir, const std::vector<uint32_t>& sizes, const nlohmann::json& manifest) {
  std::optional<std::string> text = procfs::read_file(dir + "/MANIFEST.json");
  if (!text) return false;
  nlohmann::json found = nlohmann::json::parse(*text, nullptr, false);
  if (found.is_discarded() || found != manifest) return false;
  struct stat st {};
  for (uint64_t i = 0; i < sizes.size(); ++i) {
    std::string path = dir + dataset_path(i);
    if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) != sizes[i]) return false;
  }
  return ::stat((dir + docroot_path_for(kProbeFileBytes)).c_str(), &st) == 0;
}

void make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    throw std::runtime_error(fmt::format("data set: cannot create {}: {}", path, std::strerror(errno)));
  }
}

void write_set(const std::string& dir, const std::vector<uint32_t>& sizes) {
  ::unlink((dir + "/MANIFEST.json").c_str());
  uint32_t largest = sizes.empty() ? 0 : *std::max_element(sizes.begin(), sizes.end());
  std::string buf(largest, '\0');
  for (uint64_t i = 0; i < sizes.size(); ++i) {
    if (i % kFilesPerFolder == 0) make_dir(fmt::format("{}/d{}", dir, i / kFilesPerFolder));
    for (uint32_t j = 0; j < sizes[i]; ++j) buf[j] = dataset_byte(i, j);
    std::string path = dir + dataset_path(i);
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw std::runtime_error(fmt::format("data set: cannot create {}: {}", path, std::strerror(errno)));
    try {
      write_all(fd.get(), path, buf.data(), sizes[i]);
    } catch (const SysError& e) {
      throw std::runtime_error(fmt::format("data set: {}", e.what()));
    }
  }
  make_docroot(dir, {kProbeFileBytes});
  // Dirty pages cannot be dropped: write everything out before the first
  // eviction counts on it.
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d || ::syncfs(d.get()) != 0) {
    throw std::runtime_error(fmt::format("data set: syncfs({}): {}", dir, std::strerror(errno)));
  }
}

}  // namespace

std::vector<uint32_t> dataset_sizes(const DatasetSpec& spec, std::optional<uint64_t> memory_limit_bytes) {
  uint64_t total = spec.total_bytes;
  if (spec.total_ratio > 0) {
    if (!memory_limit_bytes) {
      bad(fmt::format("disk:{}: a total relative to the memory limit needs --server-memory (or the "
                      "matrix's \"server_memory\")",
                      spec.canonical()));
    }
    total = static_cast<uint64_t>(std::llround(spec.total_ratio * static_cast<double>(*memory_limit_bytes)));
  }
  std::vector<uint32_t> sizes;
  if (!spec.specweb) {
    uint64_t n = spec.files > 0 ? spec.files : total / spec.file_size;
    if (n == 0) bad(fmt::format("disk:{}: the set would hold no file", spec.canonical()));
    if (n > kMaxDatasetFiles) bad(fmt::format("disk:{}: more than {} files", spec.canonical(), kMaxDatasetFiles));
    sizes.assign(n, static_cast<uint32_t>(spec.file_size));
    return sizes;
  }
  uint64_t rng = kSpecwebSeed, sum = 0;
  while (spec.files > 0 ? sizes.size() < spec.files : sum < total) {
    if (sizes.size() >= kMaxDatasetFiles) {
      bad(fmt::format("disk:{}: more than {} files", spec.canonical(), kMaxDatasetFiles));
    }
    sizes.push_back(specweb_size(rng));
    sum += sizes.back();
  }
  return sizes;
}

std::string dataset_path(uint64_t index) {
  return fmt::format("/d{}/{}.bin", index / kFilesPerFolder, index);
}

std::vector<uint32_t> zipf_weights(uint64_t n, double alpha) {
  std::vector<double> raw(n);
  double sum = 0;
  for (uint64_t r = 0; r < n; ++r) sum += raw[r] = std::pow(static_cast<double>(r + 1), -alpha);
  // Scaled so the sum is about 2^30; rounding adds at most n/2.
  double scale = static_cast<double>(uint64_t{1} << 30) / sum;
  std::vector<uint32_t> out(n);
  for (uint64_t r = 0; r < n; ++r) {
    out[r] = static_cast<uint32_t>(std::max(1.0, std::round(raw[r] * scale)));
  }
  return out;
}

std::vector<uint64_t> rank_order(uint64_t n) {
  std::vector<uint64_t> order(n);
  for (uint64_t i = 0; i < n; ++i) order[i] = i;
  uint64_t rng = 0x2a;
  for (uint64_t i = n; i > 1; --i) std::swap(order[i - 1], order[splitmix64(rng) % i]);
  return order;
}

Dataset Dataset::prepare(const std::vector<uint32_t>& sizes, bool specweb, const std::string& base,
                         bool* created) {
  if (sizes.empty()) throw std::runtime_error("data set: no files");
  Dataset d;
  d.sizes_ = sizes;
  for (uint32_t s : sizes) d.bytes_ += s;
  make_dir(base);
  struct statfs fs {};
  if (::statfs(base.c_str(), &fs) == 0 && (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC)) {
    throw std::runtime_error(fmt::format(
        "data set: {} is in memory (tmpfs), so no read would reach a disk; give --dataset-dir on a disk", base));
  }
  d.dir_ = base + "/" + folder_of(sizes, specweb);
  nlohmann::json manifest = manifest_of(sizes, specweb, d.bytes_);
  bool fresh = !complete(d.dir_, sizes, manifest);
  if (fresh) {
    if (::statfs(base.c_str(), &fs) == 0) {
      uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * static_cast<uint64_t>(fs.f_bsize);
      if (free_bytes < d.bytes_ + d.bytes_ / 10) {
        throw std::runtime_error(fmt::format("data set: {} needs {} but {} holds only {} free",
                                             d.dir_, units::format_size(d.bytes_), base,
                                             units::format_size(free_bytes)));
      }
    }
    make_dir(d.dir_);
    write_set(d.dir_, sizes);
    write_file_atomic(d.dir_ + "/MANIFEST.json", manifest.dump(2) + "\n");
  }
  if (created != nullptr) *created = fresh;
  return d;
}

DiskLatency measure_disk_read_latency(const std::string& base, int reads) {
  constexpr uint64_t kFileBytes = 256ull << 20;
  constexpr std::size_t kBlock = 4096;
  DiskLatency out;
  if (::mkdir(base.c_str(), 0755) != 0 && errno != EEXIST) return out;
  std::string path = base + "/calibration-256MiB.bin";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) != kFileBytes) {
    Fd w(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!w) return out;
    std::string chunk(1 << 20, 'c');  // not zeros: some devices shortcut zero pages
    try {
      for (uint64_t done = 0; done < kFileBytes; done += chunk.size()) {
        write_all(w.get(), path, chunk.data(), chunk.size());
      }
    } catch (const SysError&) {
      return out;
    }
    if (::fsync(w.get()) != 0) return out;
  }
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
  if (!fd) return out;
  void* buf = nullptr;
  if (::posix_memalign(&buf, kBlock, kBlock) != 0) return out;
  std::vector<double> us;
  uint64_t rng = 0x5eed;
  for (int i = 0; i < reads; ++i) {
    off_t at = static_cast<off_t>(splitmix64(rng) % (kFileBytes / kBlock) * kBlock);
    auto t0 = std::chrono::steady_clock::now();
    ssize_t n = ::pread(fd.get(), buf, kBlock, at);
    auto t1 = std::chrono::steady_clock::now();
    if (n != static_cast<ssize_t>(kBlock)) break;
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::free(buf);
  if (us.size() < static_cast<std::size_t>(reads)) return out;
  std::sort(us.begin(), us.end());
  out.median_us = us[us.size() / 2];
  out.p90_us = us[us.size() * 9 / 10];
  return out;
}

std::vector<WeightedPath> Dataset::paths(double zipf_alpha) const {
  std::vector<uint32_t> weights = zipf_weights(files(), zipf_alpha);
  std::vector<uint64_t> order = rank_order(files());
  std::vector<WeightedPath> out;
  out.reserve(files());
  for (uint64_t r = 0; r < files(); ++r) out.push_back({dataset_path(order[r]), weights[r]});
  return out;
}

double Dataset::mean_file_bytes(double zipf_alpha) const {
  std::vector<uint32_t> weights = zipf_weights(files(), zipf_alpha);
  std::vector<uint64_t> order = rank_order(files());
  double sum = 0, total = 0;
  for (uint64_t r = 0; r < files(); ++r) {
    sum += static_cast<double>(weights[r]) * sizes_[order[r]];
    total += weights[r];
  }
  return total > 0 ? sum / total : 0;
}

EvictResult Dataset::evict() const {
  auto start = std::chrono::steady_clock::now();
  EvictResult r;
  for (uint64_t i = 0; i < files(); ++i) {
    std::string path = dir_ + dataset_path(i);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw std::runtime_error(fmt::format("data set: cannot open {}: {}", path, std::strerror(errno)));
    // Returns an error number instead of setting errno.
    if (int err = ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED); err != 0) {
      throw std::runtime_error(fmt::format("data set: posix_fadvise({}): {}", path, std::strerror(err)));
    }
    ++r.files;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.resident_ratio = resident_ratio();
  return r;
}

double Dataset::resident_ratio(uint64_t sample) const {
  const long page = ::sysconf(_SC_PAGESIZE);
  uint64_t step = std::max<uint64_t>(1, files() / std::max<uint64_t>(1, sample));
  uint64_t pages = 0, resident = 0;
  std::vector<unsigned char> vec;
  for (uint64_t i = 0; i < files(); i += step) {
    std::string path = dir_ + dataset_path(i);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd || sizes_[i] == 0) continue;
    void* map = ::mmap(nullptr, sizes_[i], PROT_READ, MAP_SHARED, fd.get(), 0);
    if (map == MAP_FAILED) continue;
    std::size_t n = (sizes_[i] + static_cast<std::size_t>(page) - 1) / static_cast<std::size_t>(page);
    vec.assign(n, 0);
    if (::mincore(map, sizes_[i], vec.data()) == 0) {
      pages += n;
      for (unsigned char v : vec) resident += v & 1;
    }
    ::munmap(map, sizes_[i]);
  }
  return pages > 0 ? static_cast<double>(resident) / static_cast<double>(pages) : 0.0;
}

}  // namespace cb::harness
