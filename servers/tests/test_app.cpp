// test_app.cpp: unit tests of the service handler's protocol side (GET /app,
// protocol/app.h and its part of http.cpp) and of the CPU burner
// (session/app_step.h): the query's every bound and malformed form, the
// answer for each outcome, requests pipelined behind a waiting /app fed at
// every split, and burn_cpu burning at least what it is asked on the
// thread's CPU clock. Run:
//   ctest --test-dir build -R 'AppQuery|AppProtocol|BurnCpu'
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/counters.h"
#include "protocol/app.h"
#include "protocol/http.h"
#include "protocol/out_queue.h"
#include "tests/drain.h"
#include "session/app_step.h"

namespace cb::proto {
namespace {

namespace fs = std::filesystem;

AppParams parsed(std::string_view query) {
  AppParams p;
  EXPECT_TRUE(parse_app_query(query, &p)) << query;
  return p;
}

TEST(AppQuery, EveryParameterIsOptionalAndZeroByDefault) {
  AppParams p = parsed("");
  EXPECT_EQ(p.cpu_us, 0u);
  EXPECT_EQ(p.calls, 0u);
  EXPECT_EQ(p.delay_us, 0u);
  EXPECT_EQ(p.bytes, 0u);
  p = parsed("bytes=5&calls=2&delay_us=300&cpu_us=40");
  EXPECT_EQ(p.cpu_us, 40u);
  EXPECT_EQ(p.calls, 2u);
  EXPECT_EQ(p.delay_us, 300u);
  EXPECT_EQ(p.bytes, 5u);
}

TEST(AppQuery, BoundsAreInclusiveAndOneMoreIsRefused) {
  struct Bound {
    const char* name;
    uint32_t max;
  };
  for (Bound b : {Bound{"cpu_us", kMaxAppCpuUs}, Bound{"calls", kMaxAppCalls},
                  Bound{"delay_us", kMaxAppDelayUs}, Bound{"bytes", kMaxAppBytes}}) {
    AppParams p;
    std::string at = std::string(b.name) + "=" + std::to_string(b.max);
    std::string over = std::string(b.name) + "=" + std::to_string(uint64_t{b.max} + 1);
    EXPECT_TRUE(parse_app_query(at, &p)) << at;
    EXPECT_FALSE(parse_app_query(over, &p)) << over;
  }
}

TEST(AppQuery, MalformedFormsAreRefused) {
  for (std::string_view q :
       {"cpu_us", "cpu_us=", "=5", "cpu_us=-1", "cpu_us=+1", "cpu_us=1x", "cpu_us=%31",
        "cpu_us= 1", "CPU_US=1", "nope=1", "cpu_us=1&cpu_us=2", "cpu_us=1&", "&cpu_us=1",
        "cpu_us=1&&calls=1", "bytes=00000000001", "bytes=4294967296", "bytes=99999999999999999999",
        "calls=1;delay_us=2", "calls=1#x"}) {
    AppParams p;
    EXPECT_FALSE(parse_app_query(q, &p)) << q;
  }
}

// The body /app?bytes=n sends.
std::string body(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

// The exact 200 an /app?bytes=n gets (HEAD: the same head, no body).
std::string ok(std::size_t n, bool keep_alive = true, bool head_only = false) {
  return "HTTP/1.1 200 OK\r\n" CB_MASKED_DATE "Content-Type: text/plain\r\nContent-Length: " +
         std::to_string(n) +
         (keep_alive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n") +
         (head_only ? std::string() : body(n));
}

std::string hello_file() {
  return "HTTP/1.1 200 OK\r\n" CB_MASKED_DATE "Content-Type: " +
         std::string(content_type_for("hello.txt")) +
         "\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\nhello\n";
}

class AppProtocol : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string templ = (fs::temp_directory_path() / "cb-app-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    dir_ = new fs::path(templ);
    std::ofstream(*dir_ / "hello.txt") << "hello\n";
    root_ = new FileRoot(dir_->string());
  }
  static void TearDownTestSuite() {
    delete root_;
    fs::remove_all(*dir_);
    delete dir_;
  }

  struct Outcome {
    std::string bytes;
    std::vector<AppParams> worked;  // the /app requests the session was given
    bool closing = false;
  };

  // Feeds chunks as a session does: never while an /app waits; each waiting
  // /app is answered with `outcome` before the next chunk.
  static Outcome feed(const std::vector<std::string_view>& chunks,
                      AppOutcome outcome = AppOutcome::kOk) {
    CounterBlock c{};
    HttpProtocol protocol(*root_, c);
    OutQueue out;
    Outcome o;
    for (std::string_view chunk : chunks) {
      protocol.on_input(chunk, out);
      while (protocol.app_waiting()) {
        o.worked.push_back(protocol.app());
        protocol.finish_app(outcome, out);
      }
      o.bytes += drain(out);
    }
    o.closing = protocol.closing();
    EXPECT_EQ(c.app_requests.load(), o.worked.size());
    return o;
  }

  static inline fs::path* dir_ = nullptr;
  static inline FileRoot* root_ = nullptr;
};

TEST_F(AppProtocol, AnswersWithTheAskedBodyOnceTheWorkIsDone) {
  Outcome o = feed({"GET /app?bytes=30&calls=2&delay_us=7&cpu_us=9 HTTP/1.1\r\n\r\n"});
  ASSERT_EQ(o.worked.size(), 1u);
  EXPECT_EQ(o.worked[0].calls, 2u);
  EXPECT_EQ(o.worked[0].delay_us, 7u);
  EXPECT_EQ(o.worked[0].cpu_us, 9u);
  EXPECT_EQ(o.bytes, ok(30));
  EXPECT_FALSE(o.closing);
}

TEST_F(AppProtocol, HeadAndCloseAreHonoured) {
  EXPECT_EQ(feed({"HEAD /app?bytes=4 HTTP/1.1\r\n\r\n"}).bytes,
            ok(4, true, /*head_only=*/true));
  Outcome o = feed({"GET /app?bytes=2 HTTP/1.1\r\nConnection: close\r\n\r\n"
                    "GET /hello.txt HTTP/1.1\r\n\r\n"});
  EXPECT_EQ(o.bytes, ok(2, false)) << "nothing after a close is answered";
  EXPECT_TRUE(o.closing);
}

TEST_F(AppProtocol, FailedWorkIsA5xxAndCloses) {
  const std::string req = "GET /app?calls=1 HTTP/1.1\r\n\r\nGET /hello.txt HTTP/1.1\r\n\r\n";
  Outcome none = feed({req}, AppOutcome::kNoBackend);
  EXPECT_EQ(none.bytes, "HTTP/1.1 503 Service Unavailable\r\n" CB_MASKED_DATE
                        "Content-Length: 0\r\n"
                        "Connection: close\r\n\r\n");
  EXPECT_TRUE(none.closing);
  Outcome failed = feed({req}, AppOutcome::kBackendFailed);
  EXPECT_EQ(failed.bytes, "HTTP/1.1 502 Bad Gateway\r\n" CB_MASKED_DATE
                          "Content-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(failed.closing);
}

TEST_F(AppProtocol, BadQueryIs400AndAnEscapedPathIsAFile) {
  Outcome bad = feed({"GET /app?calls=x HTTP/1.1\r\n\r\n"});
  EXPECT_TRUE(bad.worked.empty());
  EXPECT_EQ(bad.bytes, "HTTP/1.1 400 Bad Request\r\n" CB_MASKED_DATE
                       "Content-Length: 0\r\nConnection: close\r\n\r\n");
  // The handler is matched before decoding: /%61pp is a (missing) file.
  Outcome file = feed({"GET /%61pp HTTP/1.1\r\n\r\n"});
  EXPECT_TRUE(file.worked.empty());
  EXPECT_EQ(file.bytes, "HTTP/1.1 404 Not Found\r\n" CB_MASKED_DATE
                        "Content-Length: 0\r\nConnection: keep-alive\r\n\r\n");
  // Absolute form reaches it too.
  EXPECT_EQ(feed({"GET http://host/app?bytes=1 HTTP/1.1\r\n\r\n"}).bytes, ok(1));
}

// Requests pipelined behind a waiting /app are held and served after it, in
// order, whatever the split of the bytes.
TEST_F(AppProtocol, PipelinedBehindAWaitingRequestAtEverySplit) {
  const std::string stream =
      "GET /app?bytes=3 HTTP/1.1\r\n\r\n"
      "GET /hello.txt HTTP/1.1\r\n\r\n"
      "GET /app?bytes=2&calls=1 HTTP/1.1\r\n\r\n"
      "GET /app?bytes=1 HTTP/1.1\r\n\r\n";
  Outcome whole = feed({stream});
  ASSERT_EQ(whole.worked.size(), 3u);
  EXPECT_EQ(whole.bytes, ok(3) + hello_file() + ok(2) + ok(1));
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    std::string_view s(stream);
    Outcome split = feed({s.substr(0, cut), s.substr(cut)});
    EXPECT_EQ(split.bytes, whole.bytes) << "split at " << cut;
    EXPECT_EQ(split.worked.size(), 3u) << "split at " << cut;
  }
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < stream.size(); ++i) bytes.push_back(std::string_view(stream).substr(i, 1));
  EXPECT_EQ(feed(bytes).bytes, whole.bytes);
}

std::chrono::nanoseconds thread_cpu() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

TEST(BurnCpu, BurnsAtLeastTheAskedThreadCpuTime) {
  for (int us : {0, 1, 50, 3000}) {
    auto before = thread_cpu();
    burn_cpu(std::chrono::microseconds(us));
    EXPECT_GE(thread_cpu() - before, std::chrono::microseconds(us)) << us << " us";
  }
}

}  // namespace
}  // namespace cb::proto
