// disk_test.cpp: the harness's disk workloads and memory limits.
//  * On their own: the disk:QUERY grammar, data set sizing (fixed, SPECweb
//    classes, ratios of the memory limit), Zipf weights and the rank
//    shuffle, "N%" rates, the cgroup location parser, /proc/PID/io.
//  * On this machine: a data set written, found again, re-made when a file
//    is damaged, evicted so that mincore sees no page of it; a memory
//    cgroup whose limit holds a child's page cache under it while it reads
//    a set four times larger (skipped, with the reason, where no memory
//    cgroup can be made: not root, no delegation).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <variant>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/fd.h"
#include "dataset.h"
#include "matrix.h"
#include "memory_cgroup.h"
#include "procfs.h"
#include "workload.h"
#include "workspace.h"

namespace cb::harness {
namespace {

// ---- the grammar --------------------------------------------------------------

TEST(DiskWorkload, ParsesAndPrintsItsCanonicalForm) {
  Workload w = parse_workload("disk:size=16KiB&total=4x", {});
  EXPECT_EQ(w.kind, Workload::Kind::kDisk);
  EXPECT_EQ(w.spec, "disk:total=4x&size=16KiB&zipf=0.8");
  EXPECT_EQ(w.key_part(), "disk-total4x-size16KiB-zipf0.8");
  EXPECT_TRUE(w.paths.empty());  // known once the data set exists
  EXPECT_FALSE(w.makes_calls());
  EXPECT_TRUE(w.disk.needs_memory_limit());
  EXPECT_DOUBLE_EQ(w.disk.total_ratio, 4.0);

  DatasetSpec s = parse_dataset_spec("files=1k&size=specweb&zipf=0");
  EXPECT_EQ(s.files, 1000u);
  EXPECT_TRUE(s.specweb);
  EXPECT_EQ(s.zipf_alpha, 0.0);
  EXPECT_FALSE(s.needs_memory_limit());
  EXPECT_EQ(s.canonical(), "files=1000&size=specweb&zipf=0");
  EXPECT_EQ(parse_dataset_spec("total=1GiB&size=4KiB&zipf=1.2").canonical(), "total=1GiB&size=4KiB&zipf=1.2");
  EXPECT_EQ(parse_dataset_spec("total=0.25x&size=16KiB").canonical(), "total=0.25x&size=16KiB&zipf=0.8");
}

TEST(DiskWorkload, BadFormsSayWhyInOneLine) {
  for (const char* text : {"disk:", "disk:size=16KiB", "disk:files=10", "disk:files=10&total=1MiB&size=1KiB",
                           "disk:files=0&size=1KiB", "disk:files=10&size=0", "disk:files=10&size=huge",
                           "disk:files=10&size=1KiB&zipf=-1", "disk:files=10&size=1KiB&zipf=4",
                           "disk:files=10&size=1KiB&zipf=x", "disk:total=0x&size=1KiB", "disk:total=x&size=1KiB",
                           "disk:files=10&size=1KiB&size=2KiB", "disk:files=10&size=1KiB&alpha=1",
                           "disk:files=10&size=1KiB&", "disk:files=99999999&size=1KiB"}) {
    try {
      parse_workload(text, {});
      ADD_FAILURE() << text << " was accepted";
    } catch (const std::invalid_argument& e) {
      std::string why = e.what();
      EXPECT_EQ(why.find('\n'), std::string::npos) << why;
      EXPECT_NE(why.find(text), std::string::npos) << why;  // names what was wrong
    }
  }
}

TEST(DiskWorkload, SizesFollowTheSpecAndTheMemoryLimit) {
  std::vector<uint32_t> fixed = dataset_sizes(parse_dataset_spec("total=4x&size=16KiB"), 128ull << 20);
  EXPECT_EQ(fixed.size(), 32768u);  // 512 MiB of 16 KiB files
  EXPECT_EQ(std::set<uint32_t>(fixed.begin(), fixed.end()), std::set<uint32_t>{16384});
  EXPECT_EQ(dataset_sizes(parse_dataset_spec("files=7&size=100"), std::nullopt).size(), 7u);
  EXPECT_EQ(dataset_sizes(parse_dataset_spec("total=1MiB&size=4KiB"), std::nullopt).size(), 256u);
  EXPECT_THROW(dataset_sizes(parse_dataset_spec("total=2x&size=4KiB"), std::nullopt), std::invalid_argument);
  EXPECT_THROW(dataset_sizes(parse_dataset_spec("total=1KiB&size=4KiB"), std::nullopt), std::invalid_argument);

  // SPECweb99 classes: the same set everywhere, the class shares close to
  // 35/50/14/1 %, nine sizes per class, the total just reached.
  DatasetSpec web = parse_dataset_spec("total=256MiB&size=specweb");
  std::vector<uint32_t> a = dataset_sizes(web, std::nullopt), b = dataset_sizes(web, std::nullopt);
  EXPECT_EQ(a, b);
  uint64_t sum = std::accumulate(a.begin(), a.end(), uint64_t{0});
  EXPECT_GE(sum, 256ull << 20);
  EXPECT_LT(sum - a.back(), 256ull << 20);
  std::map<uint32_t, uint64_t> per_class;  // by step
  std::set<uint32_t> distinct(a.begin(), a.end());
  for (uint32_t s : a) per_class[s < 1024 ? 102 : s < 10240 ? 1024 : s < 102400 ? 10240 : 102400]++;
  double n = static_cast<double>(a.size());
  EXPECT_NEAR(static_cast<double>(per_class[102]) / n, 0.35, 0.02);
  EXPECT_NEAR(static_cast<double>(per_class[1024]) / n, 0.50, 0.02);
  EXPECT_NEAR(static_cast<double>(per_class[10240]) / n, 0.14, 0.02);
  EXPECT_NEAR(static_cast<double>(per_class[102400]) / n, 0.01, 0.005);
  EXPECT_EQ(distinct.size(), 36u);
  double mean_kib = static_cast<double>(sum) / n / 1024;
  EXPECT_NEAR(mean_kib, 14.7, 1.5);
}

TEST(DiskWorkload, ZipfWeightsFollowThePowerLawAndFitIn32Bits) {
  std::vector<uint32_t> w = zipf_weights(100000, 0.8);
  ASSERT_EQ(w.size(), 100000u);
  uint64_t sum = std::accumulate(w.begin(), w.end(), uint64_t{0});
  EXPECT_LT(sum, uint64_t{1} << 31);
  for (std::size_t i = 1; i < w.size(); ++i) ASSERT_LE(w[i], w[i - 1]) << i;
  EXPECT_NEAR(static_cast<double>(w[0]) / w[9], std::pow(10.0, 0.8), 0.01 * std::pow(10.0, 0.8));
  EXPECT_NEAR(static_cast<double>(w[9]) / w[99], std::pow(10.0, 0.8), 0.01 * std::pow(10.0, 0.8));
  EXPECT_GE(w.back(), 1u);
  std::vector<uint32_t> flat = zipf_weights(1000, 0.0);
  EXPECT_EQ(std::set<uint32_t>(flat.begin(), flat.end()).size(), 1u);

  std::vector<uint64_t> order = rank_order(5000);
  EXPECT_EQ(order, rank_order(5000));  // fixed
  std::vector<uint64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (uint64_t i = 0; i < sorted.size(); ++i) ASSERT_EQ(sorted[i], i);  // a permutation
  int in_place = 0;
  for (uint64_t i = 0; i < order.size(); ++i) in_place += order[i] == i;
  EXPECT_LT(in_place, 20);  // shuffled: the popular files are not the first written
}

TEST(DiskWorkload, MatrixTakesAMemoryLimitAndShareOfCapacityRates) {
  const char* models = R"json([
    {"name": "reactor", "variant": "epoll", "default": true, "summary": "", "supported": true, "why_not": null}])json";
  std::vector<ModelVariant> registry = parse_model_json(models);
  Matrix m = parse_matrix(nlohmann::json::parse(R"({"models": ["reactor"], "protos": ["http"],
      "connections": [100], "server_memory": "128MiB",
      "workloads": ["disk:total=2x&size=16KiB"], "rates_per_s": [0, "80%"]})"), "t");
  Expanded e = expand(m, registry);
  ASSERT_EQ(e.cells.size(), 2u);
  const Cell& closed = e.cells[0];
  const Cell& share = e.cells[1];
  EXPECT_EQ(closed.key(), "reactor-epoll_http_c100_disk-total2x-size16KiB-zipf0.8_mem128MiB_closed");
  EXPECT_EQ(share.key(), "reactor-epoll_http_c100_disk-total2x-size16KiB-zipf0.8_mem128MiB_open80pct");
  EXPECT_TRUE(closed.reads_disk());
  EXPECT_EQ(closed.server_memory_bytes, 128ull << 20);
  EXPECT_TRUE(share.open_loop());
  EXPECT_EQ(share.load(), "open");
  EXPECT_DOUBLE_EQ(share.rate_of_capacity.value_or(0), 0.8);
  EXPECT_EQ(share.capacity_twin(), closed.key());
  auto j = share.to_json();
  EXPECT_EQ(j["server_memory_bytes"], 128ull << 20);
  EXPECT_DOUBLE_EQ(j["rate_of_capacity"].get<double>(), 0.8);
  EXPECT_TRUE(j["rate_per_s"].is_null());  // filled in per run

  // A ratio needs a limit; a limit must leave room to run.
  Matrix no_limit = parse_matrix(nlohmann::json::parse(R"({"models": ["reactor"], "protos": ["http"],
      "workloads": ["disk:total=2x&size=16KiB"]})"), "t");
  EXPECT_THROW(expand(no_limit, registry), std::invalid_argument);
  Overrides o;
  o.server_memory = 64ull << 20;
  apply_overrides(no_limit, o);
  EXPECT_EQ(expand(no_limit, registry).cells.at(0).server_memory_bytes, 64ull << 20);
  EXPECT_THROW(parse_matrix(nlohmann::json::parse(R"({"models": ["reactor"], "server_memory": "1MiB"})"), "t"),
               std::invalid_argument);
  // Groups that differ only in server options stay apart.
  Matrix args = parse_matrix(nlohmann::json::parse(R"({"models": ["reactor"], "protos": ["echo"],
      "connections": [10], "server_args": ["--workers", "4"], "extra": [{"server_args": ["--workers", "16"]}]})"), "t");
  Expanded two = expand(args, registry);
  ASSERT_EQ(two.cells.size(), 2u);
  EXPECT_EQ(two.cells[0].key(), "reactor-epoll_echo_c10_m64_workers-4_closed");
  EXPECT_EQ(two.cells[1].key(), "reactor-epoll_echo_c10_m64_workers-16_closed");
  EXPECT_EQ(two.cells[1].to_json()["server_args"], nlohmann::json::array({"--workers", "16"}));
  EXPECT_THROW(parse_rate_list("0%"), std::invalid_argument);
  EXPECT_THROW(parse_rate_list("abc%"), std::invalid_argument);
  EXPECT_DOUBLE_EQ(parse_rate_list("closed,150%").at(1), -1.5);

  // The disk profile parses and runs the closed loop before its 80% share.
  nlohmann::json every = nlohmann::json::array();
  for (const char* spec : {"process:fork", "thread:per-conn", "pool:ready", "reactor:epoll", "reactor:offload",
                           "reactor:uring", "fiber:hub", "fiber:offload"}) {
    std::string s = spec;
    every.push_back({{"name", s.substr(0, s.find(':'))}, {"variant", s.substr(s.find(':') + 1)},
                     {"default", false}, {"summary", ""}, {"supported", true}, {"why_not", nullptr}});
  }
  Expanded disk = expand(load_matrix("disk"), parse_model_json(every.dump()));
  EXPECT_EQ(disk.cells.size(), 48u);
  std::map<std::string, std::size_t> at;
  for (std::size_t i = 0; i < disk.cells.size(); ++i) at[disk.cells[i].key()] = i;
  int shares = 0;
  for (const Cell& c : disk.cells) {
    EXPECT_TRUE(c.reads_disk());
    if (!c.rate_of_capacity) continue;
    ++shares;
    ASSERT_EQ(at.count(c.capacity_twin()), 1u) << c.key();
    EXPECT_LT(at[c.capacity_twin()], at[c.key()]);
  }
  EXPECT_EQ(shares, 8);
}

// ---- cgroups and /proc ------------------------------------------------------------

TEST(MemoryCgroupLocation, FindsV1V2AndSaysWhyNot) {
  const char* v1_self = "9:name=systemd:/\n4:memory:/process_api/abc\n0::/\n";
  const char* v1_mounts =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n";
  CgroupLocation v1 = locate_memory_cgroup(v1_self, v1_mounts);
  EXPECT_EQ(v1.version, 1);
  EXPECT_EQ(v1.dir, "/sys/fs/cgroup/memory/process_api/abc");

  // A container sees its own cgroup as the mount's root.
  const char* nested_mounts = "35 31 0:32 /process_api /sys/fs/cgroup/memory rw shared:9 - cgroup cgroup rw,memory\n";
  EXPECT_EQ(locate_memory_cgroup(v1_self, nested_mounts).dir, "/sys/fs/cgroup/memory/abc");

  const char* v2_self = "0::/user.slice/session-1.scope\n";
  const char* v2_mounts = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
  CgroupLocation v2 = locate_memory_cgroup(v2_self, v2_mounts);
  EXPECT_EQ(v2.version, 2);
  EXPECT_EQ(v2.dir, "/sys/fs/cgroup/user.slice/session-1.scope");

  CgroupLocation none = locate_memory_cgroup("1:cpu:/\n", v1_mounts);
  EXPECT_EQ(none.version, 0);
  EXPECT_FALSE(none.why.empty());
  CgroupLocation unmounted = locate_memory_cgroup(v1_self, "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n");
  EXPECT_EQ(unmounted.version, 0);
  EXPECT_NE(unmounted.why.find("not mounted"), std::string::npos) << unmounted.why;

  CgroupLocation bogus = memory_cgroup_at("/proc");
  EXPECT_EQ(bogus.version, 0);
  EXPECT_NE(bogus.why.find("/proc"), std::string::npos);
  auto made = MemoryCgroup::create(64ull << 20, "x", "/nonexistent/cgroup");
  ASSERT_TRUE(std::holds_alternative<std::string>(made));
  EXPECT_NE(std::get<std::string>(made).find("/nonexistent/cgroup"), std::string::npos);
}

TEST(Procfs, ReadsIoReadBytes) {
  EXPECT_EQ(procfs::parse_io_read_bytes("rchar: 9\nwchar: 1\nsyscr: 2\nsyscw: 3\nread_bytes: 4096\n"
                                        "write_bytes: 8192\ncancelled_write_bytes: 0\n"),
            4096u);
  EXPECT_FALSE(procfs::parse_io_read_bytes("rchar: 9\n").has_value());
  EXPECT_TRUE(procfs::read_io_read_bytes(::getpid()).has_value());
}

// ---- on this machine ------------------------------------------------------------

// A folder on a disk (the data set refuses tmpfs); removed at the end.
class DiskDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/var/tmp/cb-disk-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
  }
  void TearDown() override { remove_tree(base_); }
  std::string base_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_F(DiskDir, DataSetIsMadeOnceFoundAgainAndRemadeWhenDamaged) {
  std::vector<uint32_t> sizes = dataset_sizes(parse_dataset_spec("files=1500&size=specweb"), std::nullopt);
  bool created = false;
  Dataset d = Dataset::prepare(sizes, true, base_, &created);
  EXPECT_TRUE(created);
  EXPECT_EQ(d.files(), 1500u);
  EXPECT_EQ(d.dir(), base_ + "/n1500-specweb");
  // Every file holds its own bytes; two files of one size differ.
  for (uint64_t i : {uint64_t{0}, uint64_t{999}, uint64_t{1000}, uint64_t{1499}}) {
    std::string body = slurp(d.dir() + dataset_path(i));
    ASSERT_EQ(body.size(), d.size_of(i)) << i;
    for (std::size_t j = 0; j < body.size(); ++j) ASSERT_EQ(body[j], dataset_byte(i, j)) << i << " at " << j;
  }
  EXPECT_NE(std::string(64, dataset_byte(1, 0)), std::string(64, dataset_byte(2, 0)));
  EXPECT_EQ(slurp(d.dir() + docroot_path_for(1024)).size(), 1024u);  // the start-up probe's file

  Dataset again = Dataset::prepare(sizes, true, base_, &created);
  EXPECT_FALSE(created);
  EXPECT_EQ(again.bytes(), d.bytes());

  ASSERT_EQ(::truncate((d.dir() + dataset_path(700)).c_str(), 3), 0);
  Dataset::prepare(sizes, true, base_, &created);
  EXPECT_TRUE(created);
  EXPECT_EQ(slurp(d.dir() + dataset_path(700)).size(), sizes[700]);

  // Paths: every file once, most popular first.
  std::vector<WeightedPath> paths = d.paths(0.8);
  ASSERT_EQ(paths.size(), 1500u);
  std::set<std::string> unique;
  for (const WeightedPath& p : paths) unique.insert(p.path);
  EXPECT_EQ(unique.size(), 1500u);
  EXPECT_GT(paths.front().weight, 100 * paths.back().weight);
  double flat_mean = d.mean_file_bytes(0.0);
  EXPECT_NEAR(flat_mean, static_cast<double>(d.bytes()) / 1500, 1e-6 * flat_mean);
}

TEST_F(DiskDir, EvictionLeavesNoPageOfTheSetCached) {
  Dataset d = Dataset::prepare(dataset_sizes(parse_dataset_spec("files=300&size=64KiB"), std::nullopt), false, base_);
  for (uint64_t i = 0; i < d.files(); ++i) slurp(d.dir() + dataset_path(i));  // now cached
  double before = d.resident_ratio(1000);
  EvictResult ev = d.evict();
  EXPECT_EQ(ev.files, 300u);
  if (before < 0.5) GTEST_SKIP() << "this filesystem did not keep the files cached after reading them";
  EXPECT_EQ(ev.resident_ratio, 0.0);
  EXPECT_EQ(d.resident_ratio(1000), 0.0);  // every file, not a sample
  slurp(d.dir() + dataset_path(5));
  EXPECT_GT(d.resident_ratio(1000), 0.0);  // and mincore does see a read file
}

TEST_F(DiskDir, RefusesTmpfs) {
  struct stat st {};
  if (::stat("/dev/shm", &st) != 0) GTEST_SKIP() << "no /dev/shm";
  try {
    Dataset::prepare({4096}, false, "/dev/shm/cb-disk-test-refused");
    ADD_FAILURE() << "a data set in tmpfs was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("tmpfs"), std::string::npos) << e.what();
  }
  ::rmdir("/dev/shm/cb-disk-test-refused");
}

// A child in a 32 MiB memory cgroup reads a 128 MiB data set: the page cache
// charged to the cgroup stays under the limit, the limit was hit, and the
// cgroup is gone afterwards.
TEST_F(DiskDir, MemoryCgroupCapsTheChildsPageCache) {
  if (auto why = MemoryCgroup::unavailable()) GTEST_SKIP() << "no memory cgroup here: " << *why;
  constexpr uint64_t kLimit = 32ull << 20;
  Dataset d = Dataset::prepare(dataset_sizes(parse_dataset_spec("total=128MiB&size=256KiB"), std::nullopt), false,
                               base_);
  d.evict();
  std::string dir;
  {
    auto made = MemoryCgroup::create(kLimit, fmt::format("cb-disk-test-{}", ::getpid()));
    ASSERT_TRUE(std::holds_alternative<MemoryCgroup>(made)) << std::get<std::string>(made);
    MemoryCgroup& g = std::get<MemoryCgroup>(made);
    dir = g.dir();
    int go[2];
    ASSERT_EQ(::pipe(go), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (!join_cgroup(g.procs_fd())) ::_exit(3);
      char c;
      if (::read(go[0], &c, 1) != 1) ::_exit(4);
      std::vector<char> buf(256 * 1024);
      for (uint64_t i = 0; i < d.files(); ++i) {
        int fd = ::open((d.dir() + dataset_path(i)).c_str(), O_RDONLY);
        if (fd < 0) ::_exit(5);
        while (::read(fd, buf.data(), buf.size()) > 0) {
        }
        ::close(fd);
      }
      ::_exit(0);
    }
    ::close(go[0]);
    // The child is in the cgroup before it reads a byte.
    for (int i = 0; i < 200 && g.processes() == 0; ++i) ::usleep(5000);
    EXPECT_EQ(g.processes(), 1);
    ASSERT_EQ(::write(go[1], "x", 1), 1);
    ::close(go[1]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    CgroupStats s = g.stats();
    ASSERT_TRUE(s.cache_bytes.has_value());
    EXPECT_LE(*s.cache_bytes, kLimit);
    if (s.peak_bytes) {
      EXPECT_LE(*s.peak_bytes, kLimit);
    }
    ASSERT_TRUE(s.limit_hits.has_value());
    EXPECT_GT(*s.limit_hits, 0u) << "reading 4x the limit never reached it";
    EXPECT_EQ(g.processes(), 0);
  }
  struct stat st {};
  EXPECT_NE(::stat(dir.c_str(), &st), 0) << dir << " was left behind";
}

}  // namespace
}  // namespace cb::harness
