// cold_files_test.cpp: every file of a small data set served byte-exact from
// a cold page cache and then warm, against one model variant (registered
// once per variant like the conformance suite):
//   cold_files_test --server build/servers/bench_server --model reactor:offload
// Cold: each file is written, synced and evicted with
// posix_fadvise(POSIX_FADV_DONTNEED); mincore on a mapping says whether the
// filesystem honoured it (where it did not, the eviction assertions are
// skipped with the reason). The sizes straddle the 16 KiB inline limit (read
// into the response) and the sendfile path. The offloading variants must
// hand the cold reads to their helpers (reactor:uring: to io_uring) and keep
// the warm ones on the loop. For the offloading variants, three more:
// clients that vanish while their files are being read, a file truncated
// while it is read (the request fails, the server serves on), and a stop
// with reads in flight (reactor:uring must show, by its counters, that reads
// were in flight when the close or stop happened; the helpers' models have
// no such counter).
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
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
    options_.binary = g_target.server;
    options_.model = g_target.model;
    options_.proto = "http";
    options_.root = root_.path();
    server_ = std::make_unique<ServerProcess>(options_);
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

  bool uring() const { return g_target.model == "reactor:uring"; }
  bool offloads() const {
    return g_target.model.find("offload") != std::string::npos || uring();
  }

  ServerOptions options_;
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
  if (!uring()) {
    EXPECT_EQ(warm["uring_file_reads"].get<uint64_t>(), 0u) << "only reactor:uring reads with it";
  }
  if (!offloads()) {
    EXPECT_EQ(warm["offload_jobs"].get<uint64_t>(), 0u) << "only the offload variants offload";
    return;
  }
  if (evicted) {
    EXPECT_GT(cold["offload_jobs"].get<uint64_t>(), 0u) << "cold reads leave the loop";
    if (uring()) {
      // At least one read per cold GET handed off; the 1 MiB file alone
      // takes 8 reads of 128 KiB.
      EXPECT_GE(cold["uring_file_reads"].get<uint64_t>(), cold["offload_jobs"].get<uint64_t>())
          << "cold reads go through io_uring";
      EXPECT_EQ(cold["offload_queue_full"].get<uint64_t>(), 0u) << "no read fell back to the loop";
    }
  }
  // Warm: every GET is served on the loop (a file's first reader may still
  // have had its pages evicted by the time a later one came: none now).
  EXPECT_EQ(warm["offload_jobs"].get<uint64_t>(), cold["offload_jobs"].get<uint64_t>())
      << "warm files never leave the loop";
  EXPECT_EQ(warm["uring_file_reads"].get<uint64_t>(), cold["uring_file_reads"].get<uint64_t>())
      << "warm files are not read through io_uring";
  EXPECT_GE(warm["offload_resident_hits"].get<uint64_t>() -
                cold["offload_resident_hits"].get<uint64_t>(),
            uint64_t{kClients} * std::size(kSizes));
}

// Large cold files for the two tests below: several reads each, so that a
// close or a stop lands while some are in flight.
constexpr std::size_t kBigFiles = 4;
constexpr std::size_t kBigBytes = 8u << 20;
// Attempts at catching reads in flight before reactor:uring's test fails.
constexpr int kAttempts = 5;

std::string big_name(std::size_t i) { return "big" + std::to_string(i) + ".bin"; }

class ColdFilesInFlight : public ColdFiles {
 protected:
  void SetUp() override {
    if (!offloads()) GTEST_SKIP() << "only the offloading variants read files off the loop";
    ColdFiles::SetUp();
    for (std::size_t i = 0; i < kBigFiles; ++i) {
      root_.write(big_name(i), make_payload(kBigBytes, static_cast<uint32_t>(100 + i)));
    }
  }

  // Evicts the big files; false (test skipped by the caller) if the
  // filesystem keeps them cached. Pages under a read that a previous
  // attempt left running cannot be dropped yet: a few tries, 50 ms apart.
  bool evict_big(std::string* why) {
    for (std::size_t i = 0; i < kBigFiles; ++i) {
      long left = -1;
      for (int t = 0; t < 20 && left != 0; ++t) {
        if (t > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        left = evict(root_.path() + "/" + big_name(i));
      }
      if (left != 0) {
        *why = big_name(i) + ": pages stay resident after DONTNEED";
        return false;
      }
    }
    return true;
  }

  // One client per big file asks for it; returns once the server has
  // handed at least one read off the loop (bounded: 3 s).
  std::vector<Fd> ask_for_big_files() {
    uint64_t jobs_before = server_->live_counters()["offload_jobs"].get<uint64_t>();
    std::vector<Fd> clients;
    for (std::size_t i = 0; i < kBigFiles; ++i) {
      clients.push_back(connect_to(server_->port()));
      EXPECT_TRUE(send_all(clients.back().get(),
                           "GET /" + big_name(i) + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < deadline &&
           server_->live_counters()["offload_jobs"].get<uint64_t>() == jobs_before) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return clients;
  }

  // A client that vanishes: RST, not FIN (SO_LINGER 0).
  static void reset(Fd& fd) {
    linger l{1, 0};
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    fd = Fd();
  }

  // A small file, byte-exact, on a new connection: the server still serves.
  void expect_serving() {
    Fd fd = connect_to(server_->port());
    ASSERT_TRUE(send_all(fd.get(), "GET /" + file_name(5) + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto r = read_response(fd.get());
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->body == contents_[5]) << "not byte-exact";
  }
};

TEST_F(ColdFilesInFlight, ClientsVanishWhileTheirFilesAreRead) {
  expect_serving();  // the server's own descriptors settle (ring, pools)
  ASSERT_TRUE(eventually([&] { return server_->all_connections_closed(); }));
  int fds_before = server_->open_fds();
  bool caught = false;
  for (int attempt = 0; attempt < kAttempts && !caught; ++attempt) {
    std::string why;
    if (!evict_big(&why)) GTEST_SKIP() << why;
    uint64_t orphaned_before = server_->live_counters()["uring_file_reads_orphaned"].get<uint64_t>();
    std::vector<Fd> clients = ask_for_big_files();
    for (Fd& fd : clients) reset(fd);
    ASSERT_TRUE(eventually([&] { return server_->all_connections_closed(); }))
        << "attempt " << attempt << ": connections left open after their clients reset";
    uint64_t orphaned = server_->live_counters()["uring_file_reads_orphaned"].get<uint64_t>();
    caught = !uring() || orphaned > orphaned_before;
    if (uring()) std::cout << "attempt " << attempt << ": " << orphaned - orphaned_before << " reads orphaned\n";
  }
  EXPECT_TRUE(caught) << "no close landed while reads were in flight";
  // Every file and socket of the vanished clients is closed.
  EXPECT_TRUE(eventually([&] { return server_->open_fds() == fds_before; }))
      << server_->open_fds() << " descriptors open, " << fds_before << " before";
  expect_serving();
  nlohmann::json c = server_->live_counters();
  EXPECT_EQ(c["offload_queue_full"].get<uint64_t>(), 0u);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(server_->stop(std::chrono::milliseconds(8000)), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(8));
}

// A file cut short while its cold pages are being read: the read comes
// back short or empty, the request fails (counted in errors_read, the
// connection closed without a response), and the server serves on.
TEST_F(ColdFilesInFlight, FileTruncatedWhileReadFailsTheRequest) {
  std::string path = root_.path() + "/" + big_name(0);
  bool caught = false;
  for (int attempt = 0; attempt < kAttempts && !caught; ++attempt) {
    if (attempt > 0) root_.write(big_name(0), make_payload(kBigBytes, 100));
    long left = evict(path);
    if (left != 0) GTEST_SKIP() << big_name(0) << ": pages stay resident after DONTNEED";
    nlohmann::json before = server_->live_counters();
    Fd fd = connect_to(server_->port());
    ASSERT_TRUE(send_all(fd.get(), "GET /" + big_name(0) + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    // Handed to a helper (the case under test) or, if its pages came back
    // before the probe (readahead of a neighbour), served from the cache:
    // then try again. 10 s: on a loaded machine the loop may wait its turn.
    ASSERT_TRUE(eventually([&] {
      nlohmann::json c = server_->live_counters();
      return c["offload_jobs"] != before["offload_jobs"] ||
             c["offload_resident_hits"] != before["offload_resident_hits"];
    }, std::chrono::milliseconds(10000))) << "the GET was neither handed off nor served from the cache";
    if (server_->live_counters()["offload_jobs"] == before["offload_jobs"]) continue;
    ASSERT_EQ(::truncate(path.c_str(), 0), 0);
    std::string got = recv_until_eof(fd.get());  // the server closes either way
    caught = eventually([&] {
      return server_->live_counters()["errors_read"].get<uint64_t>() >
             before["errors_read"].get<uint64_t>();
    }, std::chrono::milliseconds(1000));
    if (caught) {
      EXPECT_EQ(got, "") << "a failed file read sends no response";
    }
  }
  expect_serving();
  // The race is the test's to win, not the server's: where every read
  // finished before the truncation landed (seen once in an ASan run), the
  // case was not produced, and the test says so instead of failing.
  if (!caught) {
    GTEST_SKIP() << "no truncation landed while the file was being read in " << kAttempts
                 << " attempts (the reads finished first on this machine)";
  }
}

TEST_F(ColdFilesInFlight, StopsWithReadsInFlight) {
  bool caught = false;
  for (int attempt = 0; attempt < kAttempts && !caught; ++attempt) {
    if (attempt > 0) server_ = std::make_unique<ServerProcess>(options_);
    std::string why;
    if (!evict_big(&why)) GTEST_SKIP() << why;
    std::vector<Fd> clients = ask_for_big_files();
    auto t0 = std::chrono::steady_clock::now();
    int status = server_->stop(std::chrono::milliseconds(8000));
    auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_EQ(status, 0) << "attempt " << attempt << ": not a clean exit (-1: killed after 8 s)";
    EXPECT_LT(took, std::chrono::seconds(8));
    const nlohmann::json& c = server_->final_counters();
    EXPECT_EQ(c["connections_accepted"], c["connections_closed"]) << "attempt " << attempt;
    caught = !uring() || c["uring_file_reads_orphaned"].get<uint64_t>() > 0;
    if (uring()) {
      std::cout << "attempt " << attempt << ": " << c["uring_file_reads_orphaned"]
                << " reads orphaned, stop took "
                << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
    }
  }
  EXPECT_TRUE(caught) << "no stop landed while reads were in flight";
}

}  // namespace
}  // namespace cb::testing

int main(int argc, char** argv) {
  return cb::testing::run_model_tests(argc, argv, "cold_files_test", &cb::testing::g_target);
}
