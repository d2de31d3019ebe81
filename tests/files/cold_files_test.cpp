// cold_files_test.cpp: every file of a small data set served byte-exact from
// a cold page cache and then warm, against one model variant (registered
// once per variant like the conformance suite):
//   cold_files_test --server build/servers/bench_server --model reactor:offload
// Cold: each file is written, synced and evicted with
// posix_fadvise(POSIX_FADV_DONTNEED); mincore on a mapping says whether the
// filesystem honoured it (where it did not, the eviction assertions are
// skipped with the reason). The sizes straddle the 16 KiB inline limit (read
// into the response) and the sendfile path. The offloading variants must
// hand the cold reads to their helpers and keep the warm ones on the loop.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/client.h"
#include "support/doc_root.h"
#include "support/model_test_main.h"
#include "support/server_process.h"

namespace cb::testing {

ModelUnderTest g_target;

namespace {

// Around the inline limit (16 KiB), page boundaries, and large sendfile bodies.
constexpr std::size_t kSizes[] = {1, 100, 4095, 4096, 16383, 16384, 16385, 65536, 300000, 1 << 20};
// Concurrent clients per pass, each asking for every file (pipelined).
constexpr std::size_t kClients = 4;

std::string file_name(std::size_t i) { return "f" + std::to_string(i) + ".bin"; }

// Writes the file's data to disk, then asks the kernel to drop its pages.
// Returns how many of its pages are still resident (-1: could not check).
long evict(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  long resident = -1;
  struct stat st {};
  if (::fdatasync(fd) == 0 && ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0 &&
      ::fstat(fd, &st) == 0 && st.st_size > 0) {
    auto size = static_cast<std::size_t>(st.st_size);
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map != MAP_FAILED) {
      long page = ::sysconf(_SC_PAGESIZE);
      std::vector<unsigned char> vec((size + static_cast<std::size_t>(page) - 1) /
                                     static_cast<std::size_t>(page));
      if (::mincore(map, size, vec.data()) == 0) {
        resident = 0;
        for (unsigned char v : vec) resident += v & 1;
      }
      ::munmap(map, size);
    }
  }
  ::close(fd);
  return resident;
}

class ColdFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    for (std::size_t i = 0; i < std::size(kSizes); ++i) {
      contents_.push_back(make_payload(kSizes[i], static_cast<uint32_t>(i + 1)));
      root_.write(file_name(i), contents_.back());
    }
    ServerOptions o;
    o.binary = g_target.server;
    o.model = g_target.model;
    o.proto = "http";
    o.root = root_.path();
    server_ = std::make_unique<ServerProcess>(o);
  }

  // Evicts every file; false (with the reason in *why) if some pages stayed.
  bool evict_all(std::string* why) {
    for (std::size_t i = 0; i < std::size(kSizes); ++i) {
      long left = evict(root_.path() + "/" + file_name(i));
      if (left != 0) {
        *why = file_name(i) + ": " +
               (left < 0 ? std::string("mincore could not check")
                         : std::to_string(left) + " pages still resident after DONTNEED");
        return false;
      }
    }
    return true;
  }

  // kClients connections, each pipelining a GET of every file, then reading
  // them in order: byte-exact bodies.
  void fetch_all(const std::string& pass) {
    std::vector<std::thread> clients;
    std::vector<std::string> failures(kClients);
    for (std::size_t k = 0; k < kClients; ++k) {
      clients.emplace_back([&, k] {
        Fd fd = connect_to(server_->port());
        std::string requests;
        for (std::size_t n = 0; n < std::size(kSizes); ++n) {
          std::size_t i = (n + k) % std::size(kSizes);
          requests += "GET /" + file_name(i) + " HTTP/1.1\r\nHost: t\r\n\r\n";
        }
        if (!send_all(fd.get(), requests)) return void(failures[k] = "send failed");
        for (std::size_t n = 0; n < std::size(kSizes); ++n) {
          std::size_t i = (n + k) % std::size(kSizes);
          auto r = read_response(fd.get());
          if (!r || r->status != 200 || r->body != contents_[i]) {
            return void(failures[k] = file_name(i) + " not served byte-exact");
          }
        }
      });
    }
    for (auto& t : clients) t.join();
    for (std::size_t k = 0; k < kClients; ++k) EXPECT_EQ(failures[k], "") << pass << " client " << k;
  }

  bool offloads() const { return g_target.model.find("offload") != std::string::npos; }

  DocRoot root_{"cb-cold"};
  std::vector<std::string> contents_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ColdFiles, ServedByteExactColdThenWarm) {
  std::string why;
  bool evicted = evict_all(&why);
  if (!evicted) std::cout << "eviction assertions skipped: " << why << "\n";
  fetch_all("cold");
  nlohmann::json cold = server_->live_counters();
  fetch_all("warm");
  nlohmann::json warm = server_->live_counters();
  EXPECT_EQ(warm["errors_read"].get<uint64_t>(), 0u);
  if (!offloads()) {
    EXPECT_EQ(warm["offload_jobs"].get<uint64_t>(), 0u) << "only the offload variants offload";
    return;
  }
  if (evicted) {
    EXPECT_GT(cold["offload_jobs"].get<uint64_t>(), 0u) << "cold reads go to helpers";
  }
  // Warm: every GET is served on the loop (a file's first reader may still
  // have had its pages evicted by the time a later one came: none now).
  EXPECT_EQ(warm["offload_jobs"].get<uint64_t>(), cold["offload_jobs"].get<uint64_t>())
      << "warm files never leave the loop";
  EXPECT_GE(warm["offload_resident_hits"].get<uint64_t>() -
                cold["offload_resident_hits"].get<uint64_t>(),
            uint64_t{kClients} * std::size(kSizes));
}

}  // namespace
}  // namespace cb::testing

int main(int argc, char** argv) {
  return cb::testing::run_model_tests(argc, argv, "cold_files_test", &cb::testing::g_target);
}
