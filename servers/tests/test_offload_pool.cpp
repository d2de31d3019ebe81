// test_offload_pool.cpp: unit and stress tests of the file offload pieces:
// OffloadPool + OffloadCompletions (session/offload_pool.h), the file step
// (session/file_step.h) and HttpProtocol's parked file GETs. The pool must
// hand every submitted job back exactly once, with more jobs outstanding
// than helpers, from several producers, and across a shutdown with jobs
// still queued or running; a parked GET must answer with exactly the bytes
// of the inline path. Run:
//   ctest --test-dir build -R 'Offload'
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/counters.h"
#include "protocol/http.h"
#include "protocol/out_queue.h"
#include "session/file_step.h"
#include "session/offload_pool.h"
#include "tests/drain.h"

namespace cb {
namespace {

// A job that counts how often it ran (must be at most once) and how often it
// came back (exactly once).
struct CountedJob : OffloadJob {
  std::atomic<int> runs{0};
  int returns = 0;  // touched by the draining thread only
  std::chrono::microseconds work_time{0};
};

void counted_work(OffloadJob& job) {
  auto& j = static_cast<CountedJob&>(job);
  j.runs.fetch_add(1);
  if (j.work_time.count() > 0) std::this_thread::sleep_for(j.work_time);
  j.ok = true;
}

// Drains `done` as a loop would (poll on its eventfd) until `expected` jobs
// came back or 20 s pass; returns how many came back.
std::size_t drain_until(OffloadCompletions& done, std::size_t expected) {
  std::size_t got = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (got < expected && std::chrono::steady_clock::now() < deadline) {
    pollfd p{done.fd(), POLLIN, 0};
    if (::poll(&p, 1, 100) < 0) break;
    done.drain([&](OffloadJob* job) {
      static_cast<CountedJob*>(job)->returns++;
      ++got;
    });
  }
  return got;
}

std::vector<std::unique_ptr<CountedJob>> make_jobs(std::size_t n, OffloadCompletions& done,
                                                   std::chrono::microseconds work_time) {
  std::vector<std::unique_ptr<CountedJob>> jobs;
  for (std::size_t i = 0; i < n; ++i) {
    auto j = std::make_unique<CountedJob>();
    j->work = &counted_work;
    j->completions = &done;
    j->work_time = work_time;
    jobs.push_back(std::move(j));
  }
  return jobs;
}

TEST(OffloadPool, ManyProducersMoreJobsThanHelpersEachBackExactlyOnce) {
  constexpr std::size_t kJobs = 4000;
  constexpr int kProducers = 4;
  OffloadPool pool(3, 64);  // a small queue: producers meet "full" and retry
  OffloadCompletions done;
  auto jobs = make_jobs(kJobs, done, std::chrono::microseconds(0));
  std::atomic<std::size_t> full{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (std::size_t i = static_cast<std::size_t>(p); i < kJobs; i += kProducers) {
        while (!pool.submit(jobs[i].get())) {
          full.fetch_add(1);
          std::this_thread::yield();
        }
      }
    });
  }
  std::size_t got = drain_until(done, kJobs);
  for (auto& t : producers) t.join();
  EXPECT_EQ(got, kJobs);
  for (const auto& j : jobs) {
    EXPECT_EQ(j->runs.load(), 1);
    EXPECT_EQ(j->returns, 1);
    EXPECT_TRUE(j->ok);
    EXPECT_FALSE(j->cancelled);
  }
  pool.shutdown();
  int extra = 0;
  done.drain([&](OffloadJob*) { ++extra; });
  EXPECT_EQ(extra, 0) << "nothing more comes back after all did";
}

TEST(OffloadPool, ShutdownWithJobsQueuedAndRunningHandsEachBackOnce) {
  constexpr std::size_t kJobs = 200;
  OffloadCompletions done;
  auto jobs = make_jobs(kJobs, done, std::chrono::microseconds(500));
  {
    OffloadPool pool(2, kJobs);
    for (auto& j : jobs) ASSERT_TRUE(pool.submit(j.get()));
    // Shut down once a helper is at work: some running, most still queued.
    while (jobs[0]->runs.load() == 0) std::this_thread::yield();
    pool.shutdown();
    EXPECT_FALSE(pool.submit(jobs[0].get())) << "a stopped pool takes nothing";
  }
  EXPECT_EQ(drain_until(done, kJobs), kJobs);
  std::size_t ran = 0;
  for (const auto& j : jobs) {
    EXPECT_EQ(j->returns, 1);
    EXPECT_EQ(j->runs.load(), j->cancelled ? 0 : 1);
    if (!j->cancelled) ++ran;
  }
  EXPECT_GT(ran, 0u);
  EXPECT_LT(ran, kJobs) << "the shutdown came before the queue drained";
}

TEST(OffloadPool, FullQueueRefusesAndCancelTakesAQueuedJobBack) {
  OffloadCompletions done;
  auto blocker = make_jobs(1, done, std::chrono::milliseconds(200));
  auto queued = make_jobs(2, done, std::chrono::microseconds(0));
  OffloadPool pool(1, 1);
  ASSERT_TRUE(pool.submit(blocker[0].get()));
  // Wait until the one helper took the blocker, so the queue is empty.
  while (blocker[0]->runs.load() == 0) std::this_thread::yield();
  ASSERT_TRUE(pool.submit(queued[0].get()));
  EXPECT_FALSE(pool.submit(queued[1].get())) << "capacity 1";
  EXPECT_TRUE(pool.cancel(queued[0].get()));
  EXPECT_FALSE(pool.cancel(queued[0].get()));
  EXPECT_FALSE(pool.cancel(blocker[0].get())) << "running: it will come back";
  EXPECT_EQ(drain_until(done, 1), 1u);
  EXPECT_EQ(blocker[0]->returns, 1);
  EXPECT_EQ(queued[0]->returns, 0);
  EXPECT_EQ(queued[0]->runs.load(), 0);
}

TEST(OffloadCompletions, ForgetRemovesAWaitingJobOnly) {
  OffloadCompletions done;
  auto jobs = make_jobs(3, done, std::chrono::microseconds(0));
  for (auto& j : jobs) done.push(j.get());
  EXPECT_TRUE(done.forget(jobs[1].get()));
  EXPECT_FALSE(done.forget(jobs[1].get()));
  EXPECT_TRUE(done.forget(jobs[2].get()));  // the tail: later pushes still link
  done.push(jobs[2].get());
  std::vector<OffloadJob*> order;
  done.drain([&](OffloadJob* j) { order.push_back(j); });
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0], jobs[0].get());
  EXPECT_EQ(order[1], jobs[2].get());
}

// A file in a mkdtemp directory, removed afterwards.
class TempFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/cb-offload-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string write(const std::string& name, std::size_t size) {
    std::string content(size, '\0');
    for (std::size_t i = 0; i < size; ++i) content[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
    std::ofstream(dir_ + "/" + name, std::ios::binary) << content;
    return content;
  }
  std::string dir_;
};

TEST_F(TempFiles, LoadFileReadsTheBodyOrFaultsThePagesIn) {
  std::string small = write("s.txt", 5000);
  std::string large = write("l.bin", 300 * 1024);
  Fd s(::open((dir_ + "/s.txt").c_str(), O_RDONLY | O_CLOEXEC));
  Fd l(::open((dir_ + "/l.bin").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(s && l);
  OffloadJob job;
  job.fd = s.get();
  job.size = small.size();
  job.read_body = true;
  load_file(job);
  EXPECT_TRUE(job.ok);
  EXPECT_EQ(job.body, small);
  OffloadJob big;
  big.fd = l.get();
  big.size = large.size();
  load_file(big);
  EXPECT_TRUE(big.ok);
  EXPECT_TRUE(big.body.empty());
  // Warm now (just written and read): the loop's probe finds them.
  std::string scratch;
  EXPECT_TRUE(read_if_resident(s.get(), small.size(), true, &scratch));
  EXPECT_EQ(scratch, small);
  EXPECT_TRUE(read_if_resident(l.get(), large.size(), false, &scratch));
  // A file that shrank: the helper says so.
  OffloadJob shrunk;
  shrunk.fd = s.get();
  shrunk.size = small.size() + 10;
  shrunk.read_body = true;
  load_file(shrunk);
  EXPECT_FALSE(shrunk.ok);
}

// The protocol with and without the offload flag gives the same bytes; the
// parked GET holds what is pipelined behind it; HEAD never parks.
TEST_F(TempFiles, ParkedFileGetAnswersWithTheInlineBytes) {
  write("s.txt", 5000);
  write("l.bin", 300 * 1024);
  proto::FileRoot root(dir_);
  const std::string input =
      "GET /s.txt HTTP/1.1\r\n\r\nHEAD /l.bin HTTP/1.1\r\n\r\nGET /l.bin HTTP/1.1\r\n\r\n"
      "GET /missing HTTP/1.1\r\n\r\n";
  CounterBlock c1{};
  proto::HttpProtocol plain(root, c1);
  proto::OutQueue out1;
  plain.on_input(input, out1);
  std::string expected = proto::drain(out1);

  CounterBlock c2{};
  proto::HttpProtocol parked(root, c2);
  parked.set_offload_files(true);
  proto::OutQueue out2;
  parked.on_input(input, out2);
  int parks = 0;
  OffloadPool pool(2, 16);
  OffloadCompletions done;
  while (parked.file_waiting()) {
    ++parks;
    // Half through a helper, half in place: both give the same bytes.
    FileWait w = parked.file_wait();
    OffloadJob job;
    job.fd = w.fd;
    job.size = w.size;
    job.read_body = w.inline_body;
    job.completions = &done;
    ASSERT_TRUE(pool.submit(&job));
    OffloadJob* back = nullptr;
    while (back == nullptr) {
      pollfd p{done.fd(), POLLIN, 0};
      ASSERT_GE(::poll(&p, 1, 1000), 0);
      done.drain([&](OffloadJob* j) { back = j; });
    }
    ASSERT_EQ(back, &job);
    parked.finish_file(job_result(job), out2);
  }
  EXPECT_EQ(parks, 2) << "the two GETs of files park; HEAD and the 404 do not";
  EXPECT_EQ(proto::drain(out2), expected);
  EXPECT_EQ(c2.http_2xx, c1.http_2xx);
  EXPECT_EQ(c2.http_4xx, c1.http_4xx);
  EXPECT_EQ(parked.closing(), plain.closing());
}

TEST_F(TempFiles, AFailedReadClosesLikeAShrunkFile) {
  write("s.txt", 100);
  proto::FileRoot root(dir_);
  CounterBlock c{};
  proto::HttpProtocol p(root, c);
  p.set_offload_files(true);
  proto::OutQueue out;
  p.on_input("GET /s.txt HTTP/1.1\r\n\r\nGET /s.txt HTTP/1.1\r\n\r\n", out);
  ASSERT_TRUE(p.file_waiting());
  p.finish_file({{}, false}, out);
  EXPECT_TRUE(p.closing());
  EXPECT_FALSE(p.file_waiting()) << "what was held behind it is dropped";
  EXPECT_EQ(c.errors_read, 1u);
  EXPECT_TRUE(out.empty());
}

TEST_F(TempFiles, TheFileStepServesResidentFilesInPlace) {
  std::string small = write("s.txt", 3000);
  Fd s(::open((dir_ + "/s.txt").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(s);
  OffloadPool pool(1, 4);
  OffloadJob job;
  OffloadCompletions done;
  job.completions = &done;
  std::string scratch;
  FileRead read;
  CounterBlock c{};
  ASSERT_TRUE(start_file_step({s.get(), small.size(), true}, job, pool, &scratch, &read, c));
  EXPECT_EQ(read.body, small);
  EXPECT_TRUE(read.ok);
  EXPECT_EQ(c.offload_resident_hits, 1u);
  EXPECT_EQ(c.offload_jobs, 0u);
}

}  // namespace
}  // namespace cb
