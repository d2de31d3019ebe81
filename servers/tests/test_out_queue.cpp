// test_out_queue.cpp: unit tests of OutQueue and flush()
// (servers/protocol/out_queue.*): segment bookkeeping, partial consumption,
// file descriptors closed when their range is done, and flush() through a
// stream that takes a few random bytes per call. Run:
//   ctest --test-dir build -R 'OutQueue'
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <thread>

#include "common/fd.h"
#include "common/status.h"
#include "protocol/out_queue.h"

namespace cb::proto {
namespace {

// A temporary file with known content, unlinked at once; open_fd() hands out
// new descriptors for it.
class TempFile {
 public:
  explicit TempFile(std::string_view content) {
    char templ[] = "/tmp/cb-outq-XXXXXX";
    fd_.reset(::mkstemp(templ));
    if (!fd_) std::abort();
    ::unlink(templ);
    if (::write(fd_.get(), content.data(), content.size()) !=
        static_cast<ssize_t>(content.size())) {
      std::abort();
    }
  }
  // Ranges are read with pread/sendfile at explicit offsets, so duplicates
  // sharing one file position do not interfere.
  Fd open_fd() const { return Fd(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0)); }

 private:
  Fd fd_;
};

bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

std::string make_content(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(size, '\0');
  for (char& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

// Takes 1..max_chunk bytes per call, would block every few calls, and can be
// told to fail once a budget of bytes is spent.
class TrickleStream {
 public:
  TrickleStream(unsigned seed, std::size_t max_chunk) : rng_(seed), max_chunk_(max_chunk) {}

  IoResult write(std::string_view bytes) {
    if (IoResult r; stop(&r)) return r;
    std::size_t n = std::min(bytes.size(), amount());
    received_.append(bytes.substr(0, n));
    ++writes_;
    return {IoStatus::kOk, n, 0};
  }
  IoResult sendfile(int file_fd, off_t* offset, std::size_t count) {
    if (IoResult r; stop(&r)) return r;
    std::string buf(std::min(count, amount()), '\0');
    ssize_t got = ::pread(file_fd, buf.data(), buf.size(), *offset);
    if (got <= 0) return {IoStatus::kError, 0, EIO};
    received_.append(buf.data(), static_cast<std::size_t>(got));
    *offset += got;
    ++sendfiles_;
    return {IoStatus::kOk, static_cast<std::size_t>(got), 0};
  }

  void fail_after(std::size_t bytes) { fail_after_ = bytes; }
  const std::string& received() const { return received_; }
  int writes() const { return writes_; }
  int sendfiles() const { return sendfiles_; }

 private:
  std::size_t amount() { return 1 + rng_() % max_chunk_; }
  bool stop(IoResult* r) {
    if (received_.size() >= fail_after_) {
      *r = {IoStatus::kReset, 0, ECONNRESET};
      return true;
    }
    if (rng_() % 5 == 0) {
      *r = {IoStatus::kRetry, 0, 0};
      return true;
    }
    return false;
  }

  std::mt19937 rng_;
  std::size_t max_chunk_;
  std::size_t fail_after_ = static_cast<std::size_t>(-1);
  std::string received_;
  int writes_ = 0;
  int sendfiles_ = 0;
};

TEST(OutQueue, StartsEmpty) {
  OutQueue q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.pending_bytes(), 0u);
  EXPECT_EQ(q.segment_count(), 0u);
}

TEST(OutQueue, AdjacentBytesShareOneSegment) {
  OutQueue q;
  q.append("hello, ");
  q.append("");
  q.append("world");
  EXPECT_EQ(q.segment_count(), 1u);
  EXPECT_EQ(q.pending_bytes(), 12u);
  EXPECT_EQ(q.front().bytes, "hello, world");
  EXPECT_EQ(q.front().file_fd, -1);
}

TEST(OutQueue, FileRangesAreSeparateSegmentsInOrder) {
  TempFile file("0123456789");
  OutQueue q;
  q.append("head");
  q.append_file(file.open_fd(), 2, 5);
  q.append("tail");
  EXPECT_EQ(q.segment_count(), 3u);
  EXPECT_EQ(q.pending_bytes(), 13u);
  EXPECT_EQ(q.front().bytes, "head");
  q.consume(4);
  OutQueue::Front f = q.front();
  EXPECT_GE(f.file_fd, 0);
  EXPECT_EQ(f.file_offset, 2);
  EXPECT_EQ(f.file_length, 5u);
  EXPECT_TRUE(f.bytes.empty());
  q.consume(5);
  EXPECT_EQ(q.front().bytes, "tail");
}

// What a protocol's output limit looks at: bytes held in memory and open
// files, kept exact through appends, partial writes and clears.
TEST(OutQueue, CountsBufferedBytesAndOpenFiles) {
  TempFile file("0123456789");
  OutQueue q;
  q.append("head");
  q.append_file(file.open_fd(), 0, 10);
  q.append_with(8, [](char* room, std::size_t) {
    std::memcpy(room, "abc", 3);
    return std::size_t{3};
  });
  q.append_file(file.open_fd(), 2, 3);
  EXPECT_EQ(q.buffered_bytes(), 7u);
  EXPECT_EQ(q.open_files(), 2u);
  q.consume(3);  // "hea"
  EXPECT_EQ(q.buffered_bytes(), 4u);
  q.consume(1);
  q.consume(4);  // part of the first file
  EXPECT_EQ(q.open_files(), 2u);
  q.consume(6);
  EXPECT_EQ(q.open_files(), 1u);
  EXPECT_EQ(q.buffered_bytes(), 3u);
  q.clear();
  EXPECT_EQ(q.buffered_bytes(), 0u);
  EXPECT_EQ(q.open_files(), 0u);
  q.append("x");
  EXPECT_EQ(q.buffered_bytes(), 1u);
}

TEST(OutQueue, PartialConsumeAdvances) {
  TempFile file("0123456789");
  OutQueue q;
  q.append("abcdef");
  q.append_file(file.open_fd(), 0, 10);
  q.consume(2);
  EXPECT_EQ(q.front().bytes, "cdef");
  EXPECT_EQ(q.pending_bytes(), 14u);
  q.consume(4);
  q.consume(3);
  EXPECT_EQ(q.front().file_offset, 3);
  EXPECT_EQ(q.front().file_length, 7u);
  EXPECT_EQ(q.pending_bytes(), 7u);
  q.consume(7);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.pending_bytes(), 0u);
}

TEST(OutQueue, BytesAppendedAfterAPartialConsumeJoinTheSegment) {
  OutQueue q;
  q.append("abcdef");
  q.consume(3);
  q.append("gh");
  EXPECT_EQ(q.segment_count(), 1u);
  EXPECT_EQ(q.front().bytes, "defgh");
}

TEST(OutQueue, EmptyFileRangeQueuesNothingAndClosesTheFd) {
  TempFile file("x");
  Fd fd = file.open_fd();
  int raw = fd.get();
  OutQueue q;
  q.append_file(std::move(fd), 0, 0);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(fd_is_open(raw));
}

TEST(OutQueue, FileClosesWhenItsRangeIsWrittenOrCleared) {
  TempFile file("0123456789");
  OutQueue q;
  q.append_file(file.open_fd(), 0, 10);
  int raw = q.front().file_fd;
  q.consume(9);
  EXPECT_TRUE(fd_is_open(raw));
  q.consume(1);
  EXPECT_FALSE(fd_is_open(raw));

  q.append_file(file.open_fd(), 0, 10);
  raw = q.front().file_fd;
  q.clear();
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(fd_is_open(raw));
}

TEST(OutQueue, ReusableAfterDraining) {
  OutQueue q;
  for (int i = 0; i < 3; ++i) {
    std::string big(100'000 + static_cast<std::size_t>(i), static_cast<char>('a' + i));
    q.append(big);
    q.append("!");
    EXPECT_EQ(q.segment_count(), 1u);
    EXPECT_EQ(q.pending_bytes(), big.size() + 1);
    EXPECT_EQ(q.front().bytes, big + "!");
    q.consume(big.size() + 1);
    EXPECT_TRUE(q.empty());
  }
}

TEST(OutQueue, AppendWithQueuesWhatTheFillUsed) {
  OutQueue q;
  q.append("head:");
  std::size_t used = q.append_with(10, [](char* room, std::size_t max) {
    EXPECT_EQ(max, 10u);
    std::memcpy(room, "body", 4);
    return std::size_t{4};
  });
  EXPECT_EQ(used, 4u);
  EXPECT_EQ(q.segment_count(), 1u);  // joined the bytes before it
  EXPECT_EQ(q.front().bytes, "head:body");
  used = q.append_with(8, [](char*, std::size_t) { return std::size_t{0}; });
  EXPECT_EQ(used, 0u);
  EXPECT_EQ(q.pending_bytes(), 9u);
  q.append("!");
  EXPECT_EQ(q.front().bytes, "head:body!");
}

TEST(OutQueue, AppendWithNothingOnAnEmptyQueueStaysEmpty) {
  OutQueue q;
  q.append_with(100, [](char*, std::size_t) { return std::size_t{0}; });
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.pending_bytes(), 0u);
}

TEST(OutQueueFlush, DrainsBytesAndFilesExactlyThroughPartialWrites) {
  std::string content = make_content((1u << 20) + 7, 1);
  TempFile file(content);
  for (unsigned seed = 1; seed <= 3; ++seed) {
    OutQueue q;
    std::string expected;
    for (int i = 0; i < 5; ++i) {
      std::string head = "head " + std::to_string(i) + "\r\n";
      q.append(head);
      expected += head;
      off_t offset = i * 1000;
      std::size_t length = i == 4 ? content.size() : 3000;
      if (i == 4) offset = 0;
      q.append_file(file.open_fd(), offset, length);
      expected += content.substr(static_cast<std::size_t>(offset), length);
    }
    q.append("end");
    expected += "end";
    ASSERT_EQ(q.pending_bytes(), expected.size());

    TrickleStream stream(seed, 4096);
    uint64_t written = 0;
    int retries = 0;
    for (int calls = 0; !q.empty() && calls < 100'000; ++calls) {
      IoResult r = flush(q, stream, &written);
      if (r.status == IoStatus::kRetry) {
        ++retries;
        EXPECT_EQ(q.pending_bytes(), expected.size() - written);
      } else {
        ASSERT_TRUE(r.ok());
      }
    }
    EXPECT_TRUE(q.empty());
    EXPECT_GT(retries, 0);
    EXPECT_GT(stream.sendfiles(), 5);
    EXPECT_EQ(written, expected.size());
    EXPECT_TRUE(stream.received() == expected) << "seed " << seed;
  }
}

TEST(OutQueueFlush, FewBytesPerCallStillArriveInOrder) {
  std::string content = make_content(5000, 2);
  TempFile file(content);
  OutQueue q;
  q.append("GET-ish head\r\n\r\n");
  q.append_file(file.open_fd(), 0, content.size());
  TrickleStream stream(9, 3);
  uint64_t written = 0;
  for (int calls = 0; !q.empty() && calls < 100'000; ++calls) {
    IoResult r = flush(q, stream, &written);
    ASSERT_TRUE(r.ok() || r.status == IoStatus::kRetry);
  }
  EXPECT_EQ(stream.received(), "GET-ish head\r\n\r\n" + content);
  EXPECT_GT(stream.writes(), 5);
}

TEST(OutQueueFlush, StopsOnAnErrorAndKeepsTheRest) {
  OutQueue q;
  q.append(std::string(1000, 'x'));
  TrickleStream stream(3, 50);
  stream.fail_after(300);
  uint64_t written = 0;
  IoResult r;
  for (int calls = 0; calls < 1000; ++calls) {
    r = flush(q, stream, &written);
    if (r.status != IoStatus::kRetry) break;
  }
  EXPECT_EQ(r.status, IoStatus::kReset);
  EXPECT_EQ(r.error, ECONNRESET);
  EXPECT_EQ(written, stream.received().size());
  EXPECT_GE(written, 300u);
  EXPECT_EQ(q.pending_bytes(), 1000u - written);
}

TEST(OutQueueFlush, EmptyQueueIsOkWithoutCallingTheStream) {
  OutQueue q;
  TrickleStream stream(1, 10);
  stream.fail_after(0);  // any call would fail
  uint64_t written = 0;
  EXPECT_TRUE(flush(q, stream, &written).ok());
  EXPECT_EQ(written, 0u);
}

// A drained queue owns no heap memory; its buffers wait in the thread's
// stock for the next queue that fills, so serving does not allocate.
TEST(OutQueue, DrainedStorageGoesToTheThreadsStockAndBack) {
  OutQueue a;
  a.append(std::string(1000, 'a'));
  std::size_t owned = a.owned_bytes();
  EXPECT_GE(owned, 1000u);
  a.consume(1000);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.owned_bytes(), 0u);
  // Another queue on this thread takes the buffer: a small append finds
  // the 1000-byte capacity already there.
  OutQueue b;
  b.append("x");
  EXPECT_GE(b.owned_bytes(), 1000u);
  b.clear();
  EXPECT_EQ(b.owned_bytes(), 0u);
  // A buffer beyond what the stock keeps is freed, not stocked.
  OutQueue big;
  big.append(std::string(64 * 1024, 'b'));
  big.consume(64 * 1024);
  EXPECT_EQ(big.owned_bytes(), 0u);
  // A fill that used nothing leaves nothing owned.
  OutQueue none;
  none.append_with(100, [](char*, std::size_t) { return std::size_t{0}; });
  EXPECT_EQ(none.owned_bytes(), 0u);
  // Another thread has its own stock: its first queue allocates afresh.
  std::size_t other = 0;
  std::thread([&other] {
    OutQueue q;
    q.append("y");
    other = q.owned_bytes();
  }).join();
  EXPECT_LT(other, 1000u);
}

// Bytes a file range follows are marked, so a socket sends them with
// MSG_MORE and the head leaves with the body; flush uses write_more for them
// when the stream has it.
class RecordingStream {
 public:
  IoResult write(std::string_view bytes) {
    calls_ += "write(" + std::to_string(bytes.size()) + ") ";
    return {IoStatus::kOk, bytes.size(), 0};
  }
  IoResult write_more(std::string_view bytes) {
    calls_ += "more(" + std::to_string(bytes.size()) + ") ";
    return {IoStatus::kOk, bytes.size(), 0};
  }
  IoResult sendfile(int, off_t* offset, std::size_t count) {
    calls_ += "sendfile(" + std::to_string(count) + ") ";
    *offset += static_cast<off_t>(count);
    return {IoStatus::kOk, count, 0};
  }
  const std::string& calls() const { return calls_; }

 private:
  std::string calls_;
};

TEST(OutQueueFlush, BytesBeforeAFileGoOutWithMore) {
  TempFile file("0123456789");
  OutQueue q;
  q.append("head1");
  EXPECT_FALSE(q.front().more);
  q.append_file(file.open_fd(), 0, 10);
  EXPECT_TRUE(q.front().more);
  q.append("head2");
  q.append("tail");
  RecordingStream s;
  uint64_t written = 0;
  ASSERT_TRUE(flush(q, s, &written).ok());
  EXPECT_EQ(s.calls(), "more(5) sendfile(10) write(9) ");
  EXPECT_EQ(written, 24u);
}

}  // namespace
}  // namespace cb::proto
