// dataset.h: the files of a disk workload ("disk:QUERY", workload.h), made
// once and reused, evicted from the page cache before every run.
//
// A data set is N files in a folder of its own under the data set base
// (--dataset-dir), named after what it holds ("n32768-s16384": 32,768 files
// of 16 KiB; "n9000-specweb": SPECweb99-like sizes), laid out as
// /d<k>/<i>.bin with a thousand files per folder, plus the 1 KiB probe
// file every server start is checked with. MANIFEST.json, written last,
// marks a complete set; a folder without it (an interrupted creation) is
// made again. The data set lives on disk, never in tmpfs: the point is to
// read from the device.
//
// Byte j of file i is dataset_byte(i, j): each file differs from every
// other, so a response with the wrong file's bytes cannot pass a check.
//
// Popularity: the load generator requests path r (rank r = 1..N) with
// weight ∝ r^-alpha (Zipf; alpha = 0 is uniform); ranks are mapped to files
// through a fixed shuffle, so the popular files are not the first written
// (neighbours on the disk).
//
// Sizes: "size=16KiB" gives every file that size; "size=specweb" draws
// from SPECweb99's four classes (35% below 1 KiB, 50% of 1-9 KiB, 14% of
// 10-90 KiB, 1% of 100-900 KiB; nine sizes per class, equally likely
// within a class), a mean of about 14.7 KiB, seeded so every machine makes
// the same set.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "workload.h"

namespace cb::harness {

// The file sizes a spec resolves to, given the server's memory limit (for
// total=Nx). Throws std::invalid_argument when a ratio has no limit or the
// set would hold no file or too many.
std::vector<uint32_t> dataset_sizes(const DatasetSpec& spec, std::optional<uint64_t> memory_limit_bytes);

// Byte `offset` of file `index`.
inline char dataset_byte(uint64_t index, uint64_t offset) {
  if (offset % 64 == 63) return '\n';
  return static_cast<char>('a' + (index * 7 + offset) % 26);
}

// The URL path of file `index`: "/d12/12345.bin".
std::string dataset_path(uint64_t index);

// Zipf weights in rank order (rank 1 first), integers >= 1 whose sum stays
// under 2^31 (the load generator's weights are 32-bit).
std::vector<uint32_t> zipf_weights(uint64_t n, double alpha);

// Rank -> file index: a fixed shuffle of 0..n-1.
std::vector<uint64_t> rank_order(uint64_t n);

struct EvictResult {
  uint64_t files = 0;
  double seconds = 0;
  // Resident pages / pages over a sample of files just after (mincore):
  // 0 when the eviction worked.
  double resident_ratio = 0;
};

class Dataset {
 public:
  // Makes the set (or finds the complete one already there) under `base`.
  // Throws std::runtime_error with a one-line reason (cannot create, tmpfs,
  // full disk). `created` says whether it was written now.
  static Dataset prepare(const std::vector<uint32_t>& sizes, bool specweb, const std::string& base,
                         bool* created = nullptr);

  const std::string& dir() const { return dir_; }
  uint64_t files() const { return sizes_.size(); }
  uint64_t bytes() const { return bytes_; }
  uint32_t size_of(uint64_t index) const { return sizes_[index]; }

  // Every file, most popular first, with its Zipf weight.
  std::vector<WeightedPath> paths(double zipf_alpha) const;
  // Mean bytes of a response body under that popularity.
  double mean_file_bytes(double zipf_alpha) const;

  // posix_fadvise(POSIX_FADV_DONTNEED) on every file, then mincore over a
  // sample. Throws std::runtime_error if a file cannot be opened.
  EvictResult evict() const;
  // Resident pages / pages over up to `sample` files spread over the set.
  double resident_ratio(uint64_t sample = 256) const;

 private:
  std::string dir_;
  std::vector<uint32_t> sizes_;
  uint64_t bytes_ = 0;
};

// The device's own random-read latency, measured the same day as the runs
// so a reader can judge the machine: `reads` O_DIRECT reads of 4 KiB at
// random aligned offsets of a 256 MiB file kept in `base`
// (calibration-256MiB.bin, written once), one at a time. Null figures when
// the filesystem refuses O_DIRECT or the file cannot be made.
struct DiskLatency {
  std::optional<double> median_us;
  std::optional<double> p90_us;
};
DiskLatency measure_disk_read_latency(const std::string& base, int reads = 400);

}  // namespace cb::harness
