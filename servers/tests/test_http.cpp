// test_http.cpp: unit tests of HttpProtocol (servers/protocol/http.*).
//
// Every test builds its own served tree in a mkdtemp directory (removed
// afterwards) with a sibling "outside" directory that must never leak, feeds
// raw request bytes to the protocol and compares the exact bytes it queues,
// the counters it bumps and whether it asks to close. Run:
//   ctest --test-dir build -R 'Http'
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/counters.h"
#include "protocol/http.h"
#include "protocol/out_queue.h"
#include "session/head_clock.h"
#include "tests/drain.h"

// Counts heap allocations while g_counting is set, to prove the steady state
// allocates nothing.
namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
}  // namespace

// Both halves are replaced (malloc/free) so sanitizers see matching pairs;
// noinline keeps GCC from pairing a builtin `new` with the free() inside.
__attribute__((noinline)) void* operator new(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace cb::proto {

struct HttpProtocolTestPeer {
  static std::size_t pending_bytes(const HttpProtocol& p) { return p.pending_.size(); }
  static std::size_t pending_capacity(const HttpProtocol& p) { return p.pending_.capacity(); }
};

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kBigSize = (std::size_t{1} << 20) + 7;

std::string pattern(std::size_t size, unsigned seed) {
  std::string s(size, '\0');
  std::mt19937 rng(seed);
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream f(path, std::ios::binary);
  f.write(content.data(), static_cast<std::streamsize>(content.size()));
  ASSERT_TRUE(f.good()) << path;
}

// <tmp>/root is served; <tmp>/outside holds what must never be reached.
class TempTree {
 public:
  TempTree() {
    std::string templ = (fs::temp_directory_path() / "cb-http-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    base_ = templ;
    fs::create_directories(root() / "dir");
    fs::create_directories(root() / "noindex");
    fs::create_directories(root() / "a" / "b");
    fs::create_directories(base_ / "outside");
  }
  ~TempTree() {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  fs::path root() const { return base_ / "root"; }
  fs::path outside() const { return base_ / "outside"; }

 private:
  fs::path base_;
};

// 404 and 405 (without a body) answer a well-formed request: kept alive.
bool keeps_alive(int status) {
  return status == 404 || status == 405;
}

std::string expected_error(int status, bool keep_alive) {
  std::string reason;
  std::string extra;
  switch (status) {
    case 400: reason = "Bad Request"; break;
    case 404: reason = "Not Found"; break;
    case 405: reason = "Method Not Allowed"; extra = "Allow: GET, HEAD\r\n"; break;
    case 414: reason = "URI Too Long"; break;
    case 431: reason = "Request Header Fields Too Large"; break;
    case 505: reason = "HTTP Version Not Supported"; break;
    default: reason = "Internal Server Error"; break;
  }
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n" CB_MASKED_DATE + extra +
         "Content-Length: 0\r\nConnection: " + (keep_alive ? "keep-alive" : "close") + "\r\n\r\n";
}
std::string expected_error(int status) {
  return expected_error(status, keeps_alive(status));
}

std::string expected_ok(std::string_view type, std::string_view body, bool keep_alive = true,
                        bool head_only = false) {
  std::string r = "HTTP/1.1 200 OK\r\n" CB_MASKED_DATE "Content-Type: " + std::string(type) +
                  "\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\nConnection: " + (keep_alive ? "keep-alive" : "close") + "\r\n\r\n";
  if (!head_only) r += body;
  return r;
}

struct Outcome {
  std::string bytes;
  bool closing = false;
  uint64_t requests = 0;
  uint64_t http_2xx = 0;
  uint64_t http_4xx = 0;
  uint64_t http_5xx = 0;
  uint64_t errors_read = 0;
  bool operator==(const Outcome&) const = default;
};

void PrintTo(const Outcome& o, std::ostream* os) {
  *os << "{closing=" << o.closing << " requests=" << o.requests << " 2xx=" << o.http_2xx
      << " 4xx=" << o.http_4xx << " 5xx=" << o.http_5xx << " errors_read=" << o.errors_read
      << " bytes(" << o.bytes.size() << ")=" << ::testing::PrintToString(o.bytes.substr(0, 300))
      << "}";
}

class HttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tree_ = new TempTree();
    fs::path r = tree_->root();
    write_file(r / "index.html", kIndex);
    write_file(r / "hello.txt", kHello);
    write_file(r / "empty.txt", "");
    write_file(r / "style.CSS", "b{}");
    write_file(r / "README", "no extension\n");
    write_file(r / "%2e", "a file named percent-2-e\n");
    write_file(r / "a b.txt", "space\n");
    write_file(r / "dir" / "index.html", kDirIndex);
    write_file(r / "noindex" / "file.txt", "x");
    write_file(r / "a" / "b" / "c.txt", "deep\n");
    write_file(r / "inline.bin", pattern(HttpProtocol::kInlineBodyBytes, 1));
    write_file(r / "over_inline.bin", pattern(HttpProtocol::kInlineBodyBytes + 1, 2));
    write_file(r / "big.bin", pattern(kBigSize, 3));
    write_file(tree_->outside() / "secret.txt", kSecret);
    fs::create_symlink("hello.txt", r / "link_in");
    fs::create_directory_symlink("dir", r / "linkdir_in");
    fs::create_symlink("../outside/secret.txt", r / "link_out");
    fs::create_symlink(tree_->outside() / "secret.txt", r / "link_abs");
    fs::create_directory_symlink("../outside", r / "linkdir_out");
    ASSERT_EQ(::mkfifo((r / "fifo").c_str(), 0644), 0);
    root_ = new FileRoot(r.string());
  }
  static void TearDownTestSuite() {
    delete root_;
    delete tree_;
  }

  static Outcome feed(const std::vector<std::string_view>& chunks) {
    CounterBlock c{};
    HttpProtocol protocol(*root_, c);
    OutQueue out;
    Outcome o;
    for (std::string_view chunk : chunks) {
      protocol.on_input(chunk, out);
      o.bytes += drain(out);
      // A session serves what back-pressure held once the queue is written.
      while (protocol.input_held()) {
        protocol.resume(out);
        o.bytes += drain(out);
      }
    }
    o.closing = protocol.closing();
    o.requests = c.requests.load();
    o.http_2xx = c.http_2xx.load();
    o.http_4xx = c.http_4xx.load();
    o.http_5xx = c.http_5xx.load();
    o.errors_read = c.errors_read.load();
    return o;
  }
  static Outcome whole(std::string_view request) { return feed({request}); }

  static Outcome bytewise(std::string_view request) {
    std::vector<std::string_view> chunks;
    for (std::size_t i = 0; i < request.size(); ++i) chunks.push_back(request.substr(i, 1));
    return feed(chunks);
  }

  // The status a single request gets, checking the error response is exact
  // and closes unless the request was well formed (keeps_alive()).
  static void expect_error(std::string_view request, int status) {
    expect_error(request, status, keeps_alive(status));
  }
  static void expect_error(std::string_view request, int status, bool keep_alive) {
    Outcome o = whole(request);
    EXPECT_EQ(o.bytes, expected_error(status, keep_alive))
        << ::testing::PrintToString(std::string(request));
    EXPECT_EQ(o.closing, !keep_alive);
    EXPECT_EQ(o.requests, 1u);
    EXPECT_EQ(status >= 500 ? o.http_5xx : o.http_4xx, 1u);
    EXPECT_EQ(o.http_2xx, 0u);
  }

  static void expect_ok(std::string_view request, std::string_view type, std::string_view body) {
    Outcome o = whole(request);
    EXPECT_EQ(o.bytes, expected_ok(type, body)) << ::testing::PrintToString(std::string(request));
    EXPECT_FALSE(o.closing);
    EXPECT_EQ(o.http_2xx, 1u);
  }

  static std::string get(std::string_view target) {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n\r\n";
  }

  static constexpr std::string_view kIndex = "<h1>root index</h1>\n";
  static constexpr std::string_view kHello = "hello, world\n";
  static constexpr std::string_view kDirIndex = "dir index\n";
  static constexpr std::string_view kSecret = "TOP SECRET outside the root\n";

  static TempTree* tree_;
  static FileRoot* root_;
};

TempTree* HttpTest::tree_ = nullptr;
FileRoot* HttpTest::root_ = nullptr;

TEST_F(HttpTest, GetServesFileByteExact) {
  Outcome o = whole("GET /hello.txt HTTP/1.1\r\nHost: example\r\n\r\n");
  EXPECT_EQ(o.bytes, "HTTP/1.1 200 OK\r\n" CB_MASKED_DATE
                     "Content-Type: text/plain\r\nContent-Length: 13\r\n"
                     "Connection: keep-alive\r\n\r\nhello, world\n");
  EXPECT_FALSE(o.closing);
  EXPECT_EQ(o.requests, 1u);
  EXPECT_EQ(o.http_2xx, 1u);
  EXPECT_EQ(o.http_4xx + o.http_5xx, 0u);
}

TEST_F(HttpTest, HeadSendsTheSameHeadWithoutBody) {
  Outcome o = whole("HEAD /hello.txt HTTP/1.1\r\n\r\n");
  EXPECT_EQ(o.bytes, expected_ok("text/plain", kHello, true, /*head_only=*/true));
  EXPECT_FALSE(o.closing);
  Outcome big = whole("HEAD /big.bin HTTP/1.1\r\n\r\n");
  EXPECT_EQ(big.bytes, "HTTP/1.1 200 OK\r\n" CB_MASKED_DATE
                       "Content-Type: application/octet-stream\r\n"
                       "Content-Length: 1048583\r\nConnection: keep-alive\r\n\r\n");
}

TEST_F(HttpTest, EmptyFileHasZeroLength) {
  expect_ok(get("/empty.txt"), "text/plain", "");
}

TEST_F(HttpTest, KeepAlivePairAnsweredInOrder) {
  Outcome o = whole("GET /hello.txt HTTP/1.1\r\n\r\nGET /index.html HTTP/1.1\r\n\r\n");
  EXPECT_EQ(o.bytes, expected_ok("text/plain", kHello) + expected_ok("text/html", kIndex));
  EXPECT_FALSE(o.closing);
  EXPECT_EQ(o.requests, 2u);
  EXPECT_EQ(o.http_2xx, 2u);
}

TEST_F(HttpTest, Http10ClosesUnlessKeepAliveAsked) {
  Outcome o = whole("GET /hello.txt HTTP/1.0\r\n\r\n");
  EXPECT_EQ(o.bytes, expected_ok("text/plain", kHello, /*keep_alive=*/false));
  EXPECT_TRUE(o.closing);

  o = whole("GET /hello.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
            "GET /index.html HTTP/1.0\r\n\r\n");
  EXPECT_EQ(o.bytes, expected_ok("text/plain", kHello, true) +
                         expected_ok("text/html", kIndex, false));
  EXPECT_TRUE(o.closing);
  EXPECT_EQ(o.requests, 2u);
}

TEST_F(HttpTest, ConnectionCloseDiscardsLaterPipelinedRequests) {
  Outcome o = whole("GET /hello.txt HTTP/1.1\r\nConnection: close\r\n\r\n"
                    "GET /index.html HTTP/1.1\r\n\r\nGARBAGE\r\n\r\n");
  EXPECT_EQ(o.bytes, expected_ok("text/plain", kHello, /*keep_alive=*/false));
  EXPECT_TRUE(o.closing);
  EXPECT_EQ(o.requests, 1u);
  // And input arriving after the close is ignored as well.
  o = feed({"GET /hello.txt HTTP/1.1\r\nConnection: close\r\n\r\n", get("/index.html")});
  EXPECT_EQ(o.bytes, expected_ok("text/plain", kHello, false));
  EXPECT_EQ(o.requests, 1u);
}

TEST_F(HttpTest, ProtocolErrorDiscardsLaterPipelinedRequests) {
  Outcome o = whole("GET /hello.txt HTTP/1.1\r\n\r\nG@T / HTTP/1.1\r\n\r\n" + get("/hello.txt"));
  EXPECT_EQ(o.bytes, expected_ok("text/plain", kHello) + expected_error(400));
  EXPECT_TRUE(o.closing);
  EXPECT_EQ(o.requests, 2u);
  EXPECT_EQ(o.http_2xx, 1u);
  EXPECT_EQ(o.http_4xx, 1u);
}

TEST_F(HttpTest, HeadersWithOddSpacingAndCase) {
  expect_ok("GET /hello.txt HTTP/1.1\r\nHost:t\r\nAccept:   */*   \r\nX-Empty:\r\n"
            "X-Tabs:\t\tv\t\r\ncontent-length: 000\r\n\r\n",
            "text/plain", kHello);
  Outcome o = whole("GET /hello.txt HTTP/1.1\r\nCONNECTION:\t close \t\r\n\r\n");
  EXPECT_EQ(o.bytes, expected_ok("text/plain", kHello, false));
  o = whole("GET /hello.txt HTTP/1.1\r\nConnection: keep-alive ,  Close\r\n\r\n");
  EXPECT_EQ(o.bytes, expected_ok("text/plain", kHello, false));
  o = whole("GET /hello.txt HTTP/1.1\r\nConnection: upgrade\r\n\r\n");
  EXPECT_EQ(o.bytes, expected_ok("text/plain", kHello, true));
}

TEST_F(HttpTest, BareLfEndsLinesToo) {
  expect_ok("GET /hello.txt HTTP/1.1\nHost: t\n\n", "text/plain", kHello);
  expect_ok("GET /hello.txt HTTP/1.1\r\nHost: t\n\r\n", "text/plain", kHello);
  expect_ok("GET /hello.txt HTTP/1.1\nHost: t\r\n\n", "text/plain", kHello);
}

TEST_F(HttpTest, EmptyLinesBeforeARequestAreSkipped) {
  Outcome o = whole("\r\n\n\r\nGET /hello.txt HTTP/1.1\r\n\r\n\r\nGET /index.html HTTP/1.1\r\n\r\n");
  EXPECT_EQ(o.bytes, expected_ok("text/plain", kHello) + expected_ok("text/html", kIndex));
  o = whole("\r\n\r\n");
  EXPECT_EQ(o.bytes, "");
  EXPECT_FALSE(o.closing);
}

TEST_F(HttpTest, SixteenPipelinedRequestsAnsweredInOrder) {
  const std::string_view targets[] = {"/hello.txt", "/index.html", "/dir/", "/README"};
  std::string batch;
  std::string expected;
  for (int i = 0; i < 16; ++i) {
    std::string_view t = targets[i % 4];
    bool head = i % 3 == 2;
    batch += (head ? "HEAD " : "GET ") + std::string(t) + " HTTP/1.1\r\n\r\n";
    if (t == "/hello.txt") expected += expected_ok("text/plain", kHello, true, head);
    if (t == "/index.html") expected += expected_ok("text/html", kIndex, true, head);
    if (t == "/dir/") expected += expected_ok("text/html", kDirIndex, true, head);
    if (t == "/README") expected += expected_ok("application/octet-stream", "no extension\n", true, head);
  }
  Outcome o = whole(batch);
  EXPECT_EQ(o.bytes, expected);
  EXPECT_EQ(o.requests, 16u);
  EXPECT_EQ(o.http_2xx, 16u);
  EXPECT_FALSE(o.closing);
}

TEST_F(HttpTest, BadRequestsAre400) {
  const std::string_view cases[] = {
      "GET /hello.txt\r\n\r\n",                         // HTTP/0.9 style: no version
      "GET\r\n\r\n",                                    // no target
      "GET  /hello.txt HTTP/1.1\r\n\r\n",               // two spaces
      "GET /hello.txt  HTTP/1.1\r\n\r\n",               // two spaces
      "GET /hello.txt HTTP/1.1 \r\n\r\n",               // trailing space
      " GET /hello.txt HTTP/1.1\r\n\r\n",               // leading space
      "G@T /hello.txt HTTP/1.1\r\n\r\n",                // '@' is not a token character
      "GET /hello.txt http/1.1\r\n\r\n",                // version is case-sensitive
      "GET /hello.txt HTTP/1\r\n\r\n",                  //
      "GET /hello.txt HTTP/1.1x\r\n\r\n",               //
      "GET /hello.txt HTTP/11.1\r\n\r\n",               //
      "GET /hel\rlo.txt HTTP/1.1\r\n\r\n",              // bare CR
      "GET /hello.txt HTTP/1.1\r\r\n\r\n",              // bare CR
      "GET /hel\tlo.txt HTTP/1.1\r\n\r\n",              // control character in target
      "GET /hel\x80lo.txt HTTP/1.1\r\n\r\n",            // raw non-ASCII in target
      "GET /hello.txt HTTP/1.1\r\nNoColon\r\n\r\n",     // header without colon
      "GET /hello.txt HTTP/1.1\r\n: empty name\r\n\r\n",
      "GET /hello.txt HTTP/1.1\r\nHost : t\r\n\r\n",    // space before colon
      "GET /hello.txt HTTP/1.1\r\nX: a\r\n b\r\n\r\n",  // obs-fold
      "GET /hello.txt HTTP/1.1\r\n\tX: a\r\n\r\n",      // obs-fold with tab
      "GET /hello.txt HTTP/1.1\r\nX: a\x01z\r\n\r\n",   // control character in value
      "GET /hello.txt HTTP/1.1\r\nX: a\rz\r\n\r\n",     // bare CR in value
      "GET /hello.txt HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",  // body
      "GET /hello.txt HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "GET /hello.txt HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
      "GET /hello.txt HTTP/1.1\r\nContent-Length:\r\n\r\n",
      "GET /hello.txt HTTP/1.1\r\nContent-Length: 0, 0\r\n\r\n",
      "GET /hello.txt HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "GET /hello.txt HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
      "GET * HTTP/1.1\r\n\r\n",                         // asterisk-form
      "GET hello.txt HTTP/1.1\r\n\r\n",                 // relative target
      "GET ftp://h/hello.txt HTTP/1.1\r\n\r\n",         // other scheme
      "GET http:///hello.txt HTTP/1.1\r\n\r\n",         // absolute-form without host
      "GET http:// HTTP/1.1\r\n\r\n",
      "GET /%zz HTTP/1.1\r\n\r\n",                      // bad escape
      "GET /hello.txt% HTTP/1.1\r\n\r\n",
      "GET /hello.txt%2 HTTP/1.1\r\n\r\n",
      "GET /%00 HTTP/1.1\r\n\r\n",                      // decoded NUL
      "GET /hello.txt%00.html HTTP/1.1\r\n\r\n",
  };
  for (std::string_view c : cases) {
    SCOPED_TRACE(::testing::PrintToString(std::string(c)));
    expect_error(c, 400);
  }
}

TEST_F(HttpTest, ContentLengthZeroIsNoBody) {
  expect_ok("GET /hello.txt HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "text/plain", kHello);
}

TEST_F(HttpTest, MissingOrUnservableIs404) {
  for (std::string_view target :
       {"/nope.txt", "/noindex/", "/fifo", "/hello.txt/", "/dir/nope", "/a/b/"}) {
    SCOPED_TRACE(target);
    expect_error(get(target), 404);
  }
}

TEST_F(HttpTest, OtherMethodsAre405) {
  for (std::string_view method : {"POST", "PUT", "DELETE", "OPTIONS", "get", "Head", "CONNECT"}) {
    SCOPED_TRACE(method);
    expect_error(std::string(method) + " /hello.txt HTTP/1.1\r\n\r\n", 405);
  }
  // The method is judged before the body: POST with a body is a 405 too,
  // and closes (the body's bytes are not a request).
  expect_error("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 405, false);
  // HTTP/1.0 and "Connection: close" close after a 405 as after a 200.
  expect_error("POST / HTTP/1.0\r\n\r\n", 405, false);
  expect_error("PUT / HTTP/1.1\r\nConnection: close\r\n\r\n", 405, false);
}

TEST_F(HttpTest, RequestLineBeyondTheCapIs414) {
  std::string line = "GET /" + std::string(HttpProtocol::kMaxHeadBytes, 'a') + " HTTP/1.1\r\n\r\n";
  expect_error(line, 414);
  // Decided as soon as the cap is used up, without waiting for more bytes.
  expect_error(std::string(HttpProtocol::kMaxHeadBytes, 'G'), 414);
  Outcome o = whole(std::string(HttpProtocol::kMaxHeadBytes - 1, 'G'));
  EXPECT_EQ(o.bytes, "");
  EXPECT_FALSE(o.closing);
}

TEST_F(HttpTest, HeadBeyondTheCapIs431) {
  std::string head = "GET /hello.txt HTTP/1.1\r\nX-Big: " +
                     std::string(HttpProtocol::kMaxHeadBytes, 'b') + "\r\n\r\n";
  expect_error(head, 431);
}

TEST_F(HttpTest, HeadOfExactlyTheCapIsServedOneMoreByteIs431) {
  std::string start = "GET /hello.txt HTTP/1.1\r\nX-Pad: ";
  std::string end = "\r\n\r\n";
  std::string exact =
      start + std::string(HttpProtocol::kMaxHeadBytes - start.size() - end.size(), 'p') + end;
  ASSERT_EQ(exact.size(), HttpProtocol::kMaxHeadBytes);
  expect_ok(exact, "text/plain", kHello);
  std::string over = start + std::string(exact.size() - start.size() - end.size() + 1, 'p') + end;
  expect_error(over, 431);
  // A bare-LF head of exactly the cap too.
  std::string lf_start = "GET /hello.txt HTTP/1.1\nX-Pad: ";
  std::string lf_exact =
      lf_start + std::string(HttpProtocol::kMaxHeadBytes - lf_start.size() - 2, 'p') + "\n\n";
  ASSERT_EQ(lf_exact.size(), HttpProtocol::kMaxHeadBytes);
  expect_ok(lf_exact, "text/plain", kHello);
}

TEST_F(HttpTest, OtherVersionsAre505) {
  for (std::string_view v : {"HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.1", "HTTP/9.9"}) {
    SCOPED_TRACE(v);
    expect_error("GET /hello.txt " + std::string(v) + "\r\n\r\n", 505);
  }
}

TEST_F(HttpTest, TraversalAttemptsAreRefused) {
  struct Case {
    std::string_view target;
    int status;
  };
  const Case cases[] = {
      {"/../etc/passwd", 400},
      {"/..", 400},
      {"/dir/..", 400},
      {"/dir/../hello.txt", 400},  // refused even though it stays inside
      {"/%2e%2e/etc/passwd", 400},
      {"/%2E%2E%2Fetc%2Fpasswd", 400},
      {"/%2e%2e%2foutside%2fsecret.txt", 400},
      {"/a/%2e%2e/%2e%2e/etc/passwd", 400},
      {"/a/b/%2e%2e/%2e%2e/%2e%2e/outside/secret.txt", 400},
      {"/dir%2f..%2f..%2foutside%2fsecret.txt", 400},
      {"/..%2foutside/secret.txt", 400},
      {"/.%2e/outside/secret.txt", 400},
      {"/%2e./outside/secret.txt", 400},
      {"/hello.txt%00", 400},
      {"http://h/../outside/secret.txt", 400},
      {"http://h/%2e%2e/outside/secret.txt", 400},
      // Percent-decoded once only: %252e is the literal name "%2e".
      {"/%252e%252e/outside/secret.txt", 404},
      {"/%252e%252e%252foutside%252fsecret.txt", 404},
      // Leading slashes merge: these are looked up inside the root.
      {"//etc/passwd", 404},
      {"///outside/secret.txt", 404},
      {"/%2fetc%2fpasswd", 404},
      {"/%2F%2Foutside/secret.txt", 404},
      {"/etc/passwd", 404},
      {"http://h//etc/passwd", 404},
      {"http://h/etc/passwd", 404},
      // Symlinks out of the root: refused by openat2 (EXDEV), answered 404.
      {"/link_out", 404},
      {"/link_abs", 404},
      {"/linkdir_out/secret.txt", 404},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.target);
    Outcome o = whole(get(c.target));
    EXPECT_EQ(o.bytes, expected_error(c.status));
    EXPECT_EQ(o.closing, !keeps_alive(c.status));
    EXPECT_EQ(o.bytes.find("SECRET"), std::string::npos);
  }
}

TEST_F(HttpTest, SymlinksInsideTheRootAreServed) {
  expect_ok(get("/link_in"), "application/octet-stream", kHello);
  expect_ok(get("/linkdir_in/"), "text/html", kDirIndex);
  expect_ok(get("/linkdir_in/index.html"), "text/html", kDirIndex);
}

TEST_F(HttpTest, PercentEscapesAndDotSegments) {
  expect_ok(get("/%252e"), "application/octet-stream", "a file named percent-2-e\n");
  expect_ok(get("/a%20b.txt"), "text/plain", "space\n");
  expect_ok(get("/%68%65%6C%6C%6f.txt"), "text/plain", kHello);
  expect_ok(get("/dir%2findex.html"), "text/html", kDirIndex);  // %2f is a plain '/'
  expect_ok(get("/./hello.txt"), "text/plain", kHello);
  expect_ok(get("/a/./b/c.txt"), "text/plain", "deep\n");
  expect_ok(get("/a//b//c.txt"), "text/plain", "deep\n");
}

TEST_F(HttpTest, QueryStringIsIgnored) {
  expect_ok(get("/hello.txt?x=1"), "text/plain", kHello);
  expect_ok(get("/hello.txt?../../outside/secret.txt"), "text/plain", kHello);
  expect_ok(get("/hello.txt?%zz"), "text/plain", kHello);  // the query is never decoded
  expect_ok(get("/?x"), "text/html", kIndex);
}

TEST_F(HttpTest, AbsoluteFormServesItsPath) {
  expect_ok(get("http://example.com/hello.txt"), "text/plain", kHello);
  expect_ok(get("HTTP://EXAMPLE.COM:8080/hello.txt?q"), "text/plain", kHello);
  expect_ok(get("http://example.com"), "text/html", kIndex);
  expect_ok(get("http://example.com?x=1"), "text/html", kIndex);
  expect_ok(get("http://example.com/dir/"), "text/html", kDirIndex);
}

TEST_F(HttpTest, DirectoriesServeTheirIndex) {
  expect_ok(get("/"), "text/html", kIndex);
  expect_ok(get("/dir/"), "text/html", kDirIndex);
  expect_error(get("/noindex/"), 404);
}

TEST_F(HttpTest, DirectoryWithoutItsSlashIsRedirected) {
  auto redirect = [](std::string_view location, bool keep_alive = true) {
    return "HTTP/1.1 301 Moved Permanently\r\n" CB_MASKED_DATE "Location: " +
           std::string(location) +
           "\r\nContent-Length: 0\r\nConnection: " + (keep_alive ? "keep-alive" : "close") +
           "\r\n\r\n";
  };
  Outcome o = whole(get("/dir") + get("/hello.txt"));
  EXPECT_EQ(o.bytes, redirect("/dir/") + expected_ok("text/plain", kHello));
  EXPECT_FALSE(o.closing);
  EXPECT_EQ(o.requests, 2u);
  EXPECT_EQ(o.http_2xx, 1u);
  // The query is kept; the target's own (undecoded) bytes are echoed.
  EXPECT_EQ(whole(get("/dir?x=1")).bytes, redirect("/dir/?x=1"));
  EXPECT_EQ(whole(get("/d%69r")).bytes, redirect("/d%69r/"));
  EXPECT_EQ(whole(get("/linkdir_in")).bytes, redirect("/linkdir_in/"));
  EXPECT_EQ(whole(get("http://example.com/dir")).bytes, redirect("/dir/"));
  Outcome closing = whole("GET /dir HTTP/1.0\r\n\r\n");
  EXPECT_EQ(closing.bytes, redirect("/dir/", false));
  EXPECT_TRUE(closing.closing);
  // "/noindex" is still redirected: the 404 comes from "/noindex/".
  EXPECT_EQ(whole(get("/noindex")).bytes, redirect("/noindex/"));
}

TEST_F(HttpTest, FragmentsAndUserinfoAre400) {
  for (std::string_view target : {"/hello.txt#x", "/hello.txt#", "/#", "/hello.txt?q#f",
                                  "http://u@example.com/hello.txt", "http://u:p@h/hello.txt",
                                  "http://@h/hello.txt", "http://u@h"}) {
    SCOPED_TRACE(target);
    expect_error(get(target), 400);
  }
  // An escaped '#' is a plain character of the name.
  expect_error(get("/hello.txt%23x"), 404);
  // '@' in the path (not the authority) is an ordinary character.
  expect_error(get("http://h/a@b"), 404);
}

TEST_F(HttpTest, AWrongRequestLineIsAnsweredBeforeTheHeadEnds) {
  // HTTP/0.9's "GET /" never sends the empty line a head ends with.
  expect_error("GET /\r\n", 400);
  expect_error("GET /hello.txt\n", 400);
  expect_error("GET / HTTP/2.0\r\n", 505);
  // A TLS ClientHello sent to the plain port: its first byte (0x16) is no
  // token character.
  expect_error(std::string_view("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), 400);
  expect_error(" GET", 400);
  expect_error("G\x01", 400);
  // A line that may still be right waits for the rest of its head.
  for (std::string_view partial : {"GET / HTTP/1.1\r\n", "GET /", "GET", "\r", "GET / HTTP/1.1\r"}) {
    SCOPED_TRACE(::testing::PrintToString(std::string(partial)));
    Outcome o = whole(partial);
    EXPECT_EQ(o.bytes, "");
    EXPECT_FALSE(o.closing);
  }
}

TEST_F(HttpTest, HeadPendingOnlyWhileTheClientOwesBytes) {
  CounterBlock c{};
  HttpProtocol protocol(*root_, c);
  OutQueue out;
  EXPECT_FALSE(protocol.head_pending());
  protocol.on_input("GET /hello.txt HTTP/1.1\r\nX: y\r\n", out);
  EXPECT_TRUE(protocol.head_pending());
  protocol.on_input("\r\n", out);
  EXPECT_FALSE(protocol.head_pending());
  EXPECT_EQ(drain(out), expected_ok("text/plain", kHello));
  // A parked /app request: the server's turn, even with bytes held behind it.
  protocol.on_input("GET /app HTTP/1.1\r\n\r\nGET /hel", out);
  EXPECT_TRUE(protocol.app_waiting());
  EXPECT_FALSE(protocol.head_pending());
}

TEST_F(HttpTest, HeadTimeoutAnswers408AndCloses) {
  CounterBlock c{};
  HttpProtocol protocol(*root_, c);
  OutQueue out;
  protocol.on_input("GET /hello.txt HTTP/1.1\r\nX:", out);
  ASSERT_TRUE(protocol.head_pending());
  protocol.on_head_timeout(out);
  EXPECT_EQ(drain(out), "HTTP/1.1 408 Request Timeout\r\n" CB_MASKED_DATE
                        "Content-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(protocol.closing());
  EXPECT_FALSE(protocol.head_pending());
  EXPECT_EQ(c.errors_head_timeout.load(), 1u);
  EXPECT_EQ(c.http_4xx.load(), 1u);
  EXPECT_EQ(HttpProtocolTestPeer::pending_capacity(protocol), std::string().capacity());
}

// The session's head clock (session/head_clock.h): it runs only while the
// client owes a head, and a new head that a read begins right after ending
// another starts a fresh clock (pipelined traffic whose reads split heads
// must never run out of time).
TEST_F(HttpTest, HeadClockStartsAgainForEachNewHead) {
  CounterBlock c{};
  HttpProtocol protocol(*root_, c);
  protocol.set_head_timeout(std::chrono::milliseconds(1000));
  OutQueue out;
  HeadClock clock;
  clock.note(protocol);
  EXPECT_FALSE(clock.running());
  protocol.on_input("GET /hello.txt HTTP/1.1\r\n", out);
  clock.note(protocol);
  ASSERT_TRUE(clock.running());
  HeadClock::Clock::time_point first = clock.due();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  protocol.on_input("X: y\r\n", out);  // the same head goes on: same deadline
  clock.note(protocol);
  EXPECT_EQ(clock.due(), first);
  protocol.on_input("\r\nGET /hello.txt HTT", out);  // ends it, begins the next
  clock.note(protocol);
  ASSERT_TRUE(clock.running());
  EXPECT_GE(clock.due() - first, std::chrono::milliseconds(20));
  protocol.on_input("P/1.1\r\n\r\n", out);
  clock.note(protocol);
  EXPECT_FALSE(clock.running());
  EXPECT_EQ(c.http_2xx.load(), 2u);
  // No timeout configured: the clock never runs.
  HttpProtocol untimed(*root_, c);
  untimed.on_input("GET /", out);
  HeadClock idle;
  idle.note(untimed);
  EXPECT_FALSE(idle.running());
}

// A burst of pipelined requests is parsed only as far as the output limits:
// the queue never holds more than one response beyond them, the rest of the
// input is held until the queue is written, and the answers are the same
// bytes, in the same order, as without the limit.
TEST_F(HttpTest, PipelinedBurstStopsAtTheOutputLimits) {
  struct Case {
    const char* target;
    std::size_t body;
  };
  for (Case k : {Case{"/inline.bin", HttpProtocol::kInlineBodyBytes},
                 Case{"/over_inline.bin", HttpProtocol::kInlineBodyBytes + 1}}) {
    SCOPED_TRACE(k.target);
    std::string burst;
    while (burst.size() < 64 * 1024) burst += get(k.target);
    std::size_t n = burst.size() / get(k.target).size();
    CounterBlock c{};
    HttpProtocol protocol(*root_, c);
    OutQueue out;
    protocol.on_input(burst, out);
    std::string got;
    std::size_t rounds = 0;
    for (;;) {
      EXPECT_LE(out.buffered_bytes(), HttpProtocol::kMaxQueuedBytes + k.body + 256);
      EXPECT_LE(out.open_files(), HttpProtocol::kMaxQueuedFiles);
      EXPECT_LE(HttpProtocolTestPeer::pending_bytes(protocol), burst.size());
      got += drain(out);
      if (!protocol.input_held()) break;
      protocol.resume(out);
      ++rounds;
    }
    EXPECT_GT(rounds, 10u) << "the limit never held parsing back";
    EXPECT_EQ(c.http_2xx.load(), n);
    std::string one = expected_ok("application/octet-stream", pattern(k.body, k.body == HttpProtocol::kInlineBodyBytes ? 1 : 2));
    ASSERT_EQ(got.size(), one.size() * n);
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(got.compare(i * one.size(), one.size(), one), 0) << "response " << i;
    }
  }
}

TEST_F(HttpTest, ContentTypesFollowTheExtension) {
  expect_ok(get("/style.CSS"), "text/css", "b{}");
  expect_ok(get("/README"), "application/octet-stream", "no extension\n");
}

TEST_F(HttpTest, SmallBodiesAreInlineLargeOnesAFileRange) {
  CounterBlock c{};
  HttpProtocol protocol(*root_, c);
  OutQueue out;
  protocol.on_input(get("/inline.bin"), out);
  ASSERT_EQ(out.segment_count(), 1u);  // head and body in one write
  std::string inline_head = expected_ok("application/octet-stream", std::string(16384, 'x'));
  inline_head.resize(inline_head.size() - 16384);
  EXPECT_EQ(out.pending_bytes(),
            cb::testing::unmasked_size(inline_head) + HttpProtocol::kInlineBodyBytes);
  EXPECT_EQ(drain(out), inline_head + pattern(HttpProtocol::kInlineBodyBytes, 1));

  protocol.on_input(get("/over_inline.bin"), out);
  ASSERT_EQ(out.segment_count(), 2u);
  out.consume(out.front().bytes.size());
  OutQueue::Front f = out.front();
  EXPECT_GE(f.file_fd, 0);
  EXPECT_EQ(f.file_offset, 0);
  EXPECT_EQ(f.file_length, HttpProtocol::kInlineBodyBytes + 1);
  out.clear();
}

TEST_F(HttpTest, LargeFileIsQueuedAsAFileRange) {
  CounterBlock c{};
  HttpProtocol protocol(*root_, c);
  OutQueue out;
  protocol.on_input(get("/big.bin"), out);
  std::string head = "HTTP/1.1 200 OK\r\n" CB_MASKED_DATE
                     "Content-Type: application/octet-stream\r\n"
                     "Content-Length: 1048583\r\nConnection: keep-alive\r\n\r\n";
  ASSERT_EQ(out.segment_count(), 2u);
  EXPECT_EQ(cb::testing::mask_date(out.front().bytes), head);
  EXPECT_EQ(out.pending_bytes(), cb::testing::unmasked_size(head) + kBigSize);
  EXPECT_EQ(drain(out), head + pattern(kBigSize, 3));
  EXPECT_EQ(c.http_2xx.load(), 1u);
}

// A stream that takes a few random bytes per call and sometimes would block.
class TrickleStream {
 public:
  explicit TrickleStream(unsigned seed) : rng_(seed) {}

  IoResult write(std::string_view bytes) {
    if (would_block()) return {IoStatus::kRetry, 0, 0};
    std::size_t n = std::min(bytes.size(), amount());
    received_.append(bytes.substr(0, n));
    return {IoStatus::kOk, n, 0};
  }
  IoResult sendfile(int file_fd, off_t* offset, std::size_t count) {
    if (would_block()) return {IoStatus::kRetry, 0, 0};
    char buf[128];
    std::size_t n = std::min(count, amount());
    ssize_t got = ::pread(file_fd, buf, n, *offset);
    if (got <= 0) return {IoStatus::kError, 0, EIO};
    received_.append(buf, static_cast<std::size_t>(got));
    *offset += got;
    return {IoStatus::kOk, static_cast<std::size_t>(got), 0};
  }
  const std::string& received() const { return received_; }

 private:
  std::size_t amount() { return 1 + rng_() % 97; }
  bool would_block() { return rng_() % 7 == 0; }

  std::mt19937 rng_;
  std::string received_;
};

TEST_F(HttpTest, PartialWritesOfALargeFileResumeExactly) {
  CounterBlock c{};
  HttpProtocol protocol(*root_, c);
  OutQueue out;
  protocol.on_input(get("/hello.txt") + get("/big.bin") + get("/inline.bin"), out);
  std::string expected = expected_ok("text/plain", kHello) +
                         expected_ok("application/octet-stream", pattern(kBigSize, 3)) +
                         expected_ok("application/octet-stream",
                                     pattern(HttpProtocol::kInlineBodyBytes, 1));
  TrickleStream stream(42);
  uint64_t written = 0;
  int retries = 0;
  for (int calls = 0; !out.empty() && calls < 1'000'000; ++calls) {
    IoResult r = flush(out, stream, &written);
    if (r.status == IoStatus::kRetry) ++retries;
    else ASSERT_TRUE(r.ok());
  }
  EXPECT_TRUE(out.empty());
  EXPECT_GT(retries, 0);
  EXPECT_EQ(written, cb::testing::unmasked_size(expected));
  EXPECT_TRUE(cb::testing::mask_date(stream.received()) == expected)
      << "the bytes that arrived differ";
}

// Every corpus entry split in two at every offset, and fed a byte at a time,
// gives exactly the output of the whole.
std::vector<std::string> split_corpus() {
  std::vector<std::string> corpus = {
      "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n",
      "HEAD /hello.txt HTTP/1.1\r\n\r\n",
      "GET /hello.txt HTTP/1.1\r\n\r\nGET /index.html HTTP/1.1\r\n\r\n",
      "GET /index.html HTTP/1.0\r\n\r\n",
      "GET /index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /hello.txt HTTP/1.0\r\n\r\n",
      "GET /hello.txt HTTP/1.1\r\nHost:t\r\nAccept:   */*  \r\nconnection:\tClose \r\n\r\n",
      "GET /hello.txt HTTP/1.1\nHost: t\n\nGET /dir/ HTTP/1.1\r\n\n",
      "\r\n\nGET /hello.txt HTTP/1.1\r\n\r\n\r\n",
      "GET /hello.txt HTTP/1.1\r\nConnection: close\r\n\r\nGET /index.html HTTP/1.1\r\n\r\n",
      "GET http://h/hello.txt?q=1 HTTP/1.1\r\n\r\n",
      "GET /%68ello.txt HTTP/1.1\r\n\r\n",
      "GET /big.bin HTTP/1.1\r\n\r\n",
      "GET /hello.txt\r\n\r\n",
      "GET /hello.txt HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
      "GET /hello.txt HTTP/1.1\r\nContent-Length: 2\r\n\r\nab",
      "GET /%2e%2e/outside/secret.txt HTTP/1.1\r\n\r\n",
      "GET /nope HTTP/1.1\r\n\r\n",
      "POST /hello.txt HTTP/1.1\r\n\r\n",
      "GET /hello.txt HTTP/2.0\r\n\r\n",
      "GET /hello.txt HTTP/1.1\r\n\r\nPUT / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
      "GET /" + std::string(HttpProtocol::kMaxHeadBytes + 10, 'a') + " HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nX: " + std::string(HttpProtocol::kMaxHeadBytes + 10, 'b') + "\r\n\r\n",
  };
  std::string start = "GET /hello.txt HTTP/1.1\r\nX-Pad: ";
  corpus.push_back(start + std::string(HttpProtocol::kMaxHeadBytes - start.size() - 4, 'p') +
                   "\r\n\r\n" + "GET /index.html HTTP/1.1\r\n\r\n");
  return corpus;
}

TEST_F(HttpTest, SplitAtEveryOffsetGivesTheSameOutput) {
  for (const std::string& request : split_corpus()) {
    SCOPED_TRACE(::testing::PrintToString(request.substr(0, 80)));
    Outcome expected = whole(request);
    ASSERT_GT(expected.requests, 0u);
    std::string_view r = request;
    for (std::size_t at = 0; at <= r.size(); ++at) {
      Outcome split = feed({r.substr(0, at), r.substr(at)});
      ASSERT_EQ(split, expected) << "split at " << at;
    }
  }
}

TEST_F(HttpTest, ByteAtATimeGivesTheSameOutput) {
  for (const std::string& request : split_corpus()) {
    SCOPED_TRACE(::testing::PrintToString(request.substr(0, 80)));
    ASSERT_EQ(bytewise(request), whole(request));
  }
}

TEST_F(HttpTest, RandomChunksOfManyRequestsGiveTheSameOutput) {
  std::string stream;
  for (int i = 0; i < 40; ++i) {
    stream += i % 5 == 4 ? "HEAD /dir/ HTTP/1.1\nX:y\n\n" : get(i % 2 ? "/hello.txt" : "/index.html");
  }
  stream += get("/nope");
  Outcome expected = whole(stream);
  EXPECT_EQ(expected.requests, 41u);
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::string_view> chunks;
    std::string_view rest = stream;
    while (!rest.empty()) {
      std::size_t n = std::min<std::size_t>(rest.size(), rng() % 120);
      chunks.push_back(rest.substr(0, n));
      rest.remove_prefix(n);
    }
    ASSERT_EQ(feed(chunks), expected) << "round " << round;
  }
}

TEST_F(HttpTest, AnIdleConnectionOwnsNoHeapMemory) {
  CounterBlock c{};
  HttpProtocol protocol(*root_, c);
  OutQueue out;
  std::string request = "GET /hello.txt HTTP/1.1\r\nX-Pad: " + std::string(4000, 'p') + "\r\n\r\n";
  protocol.on_input(std::string_view(request).substr(0, 3000), out);
  EXPECT_EQ(HttpProtocolTestPeer::pending_bytes(protocol), 3000u);
  protocol.on_input(std::string_view(request).substr(3000), out);
  EXPECT_EQ(HttpProtocolTestPeer::pending_bytes(protocol), 0u);
  EXPECT_LE(HttpProtocolTestPeer::pending_capacity(protocol), std::string().capacity());
  EXPECT_EQ(drain(out), expected_ok("text/plain", kHello));
  // Only the unfinished tail is kept, never the requests already answered.
  protocol.on_input(get("/hello.txt") + "GET /hel", out);
  EXPECT_EQ(HttpProtocolTestPeer::pending_bytes(protocol), 8u);
}

TEST_F(HttpTest, SteadyStateKeepAliveDoesNotAllocate) {
  CounterBlock c{};
  HttpProtocol protocol(*root_, c);
  OutQueue out;
  auto drain_quietly = [&] {
    while (!out.empty()) {
      OutQueue::Front f = out.front();
      out.consume(f.file_fd >= 0 ? f.file_length : f.bytes.size());
    }
  };
  // One request per read, then a pipelined batch of small ones.
  const std::string requests[] = {get("/hello.txt"), get("/big.bin"), get("/inline.bin"),
                                  "HEAD /dir/ HTTP/1.1\r\n\r\n", get("/a%20b.txt"),
                                  get("http://h/index.html?q=1"),
                                  get("/hello.txt") + get("/index.html") + get("/dir/") +
                                      get("/README")};
  auto round = [&] {
    for (const std::string& r : requests) {
      protocol.on_input(r, out);
      drain_quietly();
    }
  };
  for (int i = 0; i < 3; ++i) round();  // warm up thread-local buffers
  g_allocations = 0;
  g_counting = true;
  for (int i = 0; i < 100; ++i) round();
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 0);
  EXPECT_FALSE(protocol.closing());
  EXPECT_EQ(c.http_2xx.load(), 103u * 10);
}

TEST_F(HttpTest, FileShorterThanItsSizeClosesWithoutAResponse) {
  // sysfs reports 4096 bytes for files that read back much shorter: the
  // same thing a file truncated between fstat and pread looks like.
  const char* dir = "/sys/devices/system/cpu";
  struct stat st {};
  if (::stat("/sys/devices/system/cpu/online", &st) != 0 || st.st_size <= 16) {
    GTEST_SKIP() << "no sysfs file whose size overstates its content";
  }
  FileRoot sys(dir);
  CounterBlock c{};
  HttpProtocol protocol(sys, c);
  OutQueue out;
  protocol.on_input(get("/online") + get("/online"), out);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(protocol.closing());
  EXPECT_EQ(c.errors_read.load(), 1u);
  EXPECT_EQ(c.requests.load(), 0u);
}

TEST(PercentDecode, DecodesOnce) {
  std::string out;
  EXPECT_TRUE(percent_decode("/a%20b%2Fc%2fd", &out));
  EXPECT_EQ(out, "/a b/c/d");
  EXPECT_TRUE(percent_decode("%252e%41+", &out));
  EXPECT_EQ(out, "%2eA+");
  EXPECT_TRUE(percent_decode("", &out));
  EXPECT_EQ(out, "");
  EXPECT_TRUE(percent_decode("%ff%C3%A9", &out));
  EXPECT_EQ(out, "\xff\xc3\xa9");
}

TEST(PercentDecode, RefusesBadEscapesAndNul) {
  std::string out;
  for (std::string_view bad : {"%", "%2", "a%", "%g0", "%0g", "%%41", "%00", "a%00b"}) {
    EXPECT_FALSE(percent_decode(bad, &out)) << bad;
  }
  EXPECT_FALSE(percent_decode(std::string_view("a\0b", 3), &out));
}

TEST(ContentType, FromTheExtensionCaseInsensitively) {
  EXPECT_EQ(content_type_for("/index.html"), "text/html");
  EXPECT_EQ(content_type_for("/x.HTM"), "text/html");
  EXPECT_EQ(content_type_for("/a.txt"), "text/plain");
  EXPECT_EQ(content_type_for("/a.css"), "text/css");
  EXPECT_EQ(content_type_for("/a.js"), "text/javascript");
  EXPECT_EQ(content_type_for("/a.json"), "application/json");
  EXPECT_EQ(content_type_for("/a.png"), "image/png");
  EXPECT_EQ(content_type_for("/a.jpg"), "image/jpeg");
  EXPECT_EQ(content_type_for("/a.JPEG"), "image/jpeg");
  EXPECT_EQ(content_type_for("/a.gif"), "image/gif");
  EXPECT_EQ(content_type_for("/a.svg"), "image/svg+xml");
  EXPECT_EQ(content_type_for("/favicon.ico"), "image/x-icon");
  EXPECT_EQ(content_type_for("/a.pdf"), "application/pdf");
  EXPECT_EQ(content_type_for("/a.wasm"), "application/wasm");
  EXPECT_EQ(content_type_for("/a.xml"), "application/xml");
  EXPECT_EQ(content_type_for("/a.bin"), "application/octet-stream");
}

TEST(ContentType, UnknownOrMissingExtensionIsOctetStream) {
  EXPECT_EQ(content_type_for("/a.tar.gz"), "application/octet-stream");
  EXPECT_EQ(content_type_for("/README"), "application/octet-stream");
  EXPECT_EQ(content_type_for("/v1.2/README"), "application/octet-stream");
  EXPECT_EQ(content_type_for("/a."), "application/octet-stream");
  EXPECT_EQ(content_type_for("/a.htmlx"), "application/octet-stream");
  EXPECT_EQ(content_type_for(""), "application/octet-stream");
}

// Comparable work with nginx (issue 14): a Date header on every response,
// and a connection that stays open after a well-formed request's 404/405.
TEST(HttpDate, ImfFixdateOfKnownSeconds) {
  EXPECT_EQ(date_line(784111777), "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n");  // RFC 9110's
  EXPECT_EQ(date_line(0), "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
  EXPECT_EQ(date_line(1709164799), "Date: Wed, 28 Feb 2024 23:59:59 GMT\r\n");
  EXPECT_EQ(date_line(1709164800), "Date: Thu, 29 Feb 2024 00:00:00 GMT\r\n");
  EXPECT_EQ(date_line(4102444800), "Date: Fri, 01 Jan 2100 00:00:00 GMT\r\n");
  std::string_view now = date_line_now();
  ASSERT_EQ(now.size(), 37u);
  EXPECT_TRUE(cb::testing::is_imf_fixdate(now.substr(6, 29))) << now;
}

TEST(HttpDate, FormattedOncePerSecondPerThread) {
  uint64_t before = date_lines_formatted();
  for (int i = 0; i < 1000; ++i) date_line(1'000'000'000);
  EXPECT_EQ(date_lines_formatted(), before + 1);
  date_line(1'000'000'001);
  EXPECT_EQ(date_lines_formatted(), before + 2);
  // Another thread keeps its own line: no shared state to race on (the
  // TSan build would see one).
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&good, t] {
      bool ok = true;
      for (int i = 0; i < 2000; ++i) {
        time_t second = 1'500'000'000 + t * 100 + i / 500;
        ok = ok && date_line(second).substr(6, 29).size() == 29 &&
             date_lines_formatted() == static_cast<uint64_t>(i / 500 + 1);
      }
      if (ok) good.fetch_add(1);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 4);
  EXPECT_EQ(date_lines_formatted(), before + 2);
}

TEST_F(HttpTest, EveryResponseCarriesTheCurrentDate) {
  auto raw = [](std::string_view request) {
    CounterBlock c{};
    HttpProtocol protocol(*root_, c);
    OutQueue out;
    protocol.on_input(request, out);
    return drain_raw(out);
  };
  auto date_of = [](const std::string& response) {
    std::size_t at = response.find("\r\nDate: ");
    return at == std::string::npos ? std::string() : response.substr(at + 8, 29);
  };
  // 200, 301, 404, 405 and a protocol error alike.
  for (std::string_view request :
       {"GET /hello.txt HTTP/1.1\r\n\r\n", "GET /dir HTTP/1.1\r\n\r\n",
        "GET /nope HTTP/1.1\r\n\r\n", "PUT / HTTP/1.1\r\n\r\n", "G@T / HTTP/1.1\r\n\r\n"}) {
    SCOPED_TRACE(::testing::PrintToString(std::string(request)));
    std::string response = raw(request);
    EXPECT_TRUE(cb::testing::is_imf_fixdate(date_of(response))) << response;
    // Right after the status line, as the masked expectations say.
    EXPECT_EQ(response.find("\r\n"), response.find("\r\nDate: "));
  }
  // It follows the clock: a response after the next second has begun
  // carries a different Date (the clock is CLOCK_REALTIME_COARSE).
  std::string first = date_of(raw("GET /hello.txt HTTP/1.1\r\n\r\n"));
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  std::this_thread::sleep_for(std::chrono::nanoseconds(1'000'000'000 - ts.tv_nsec) +
                              std::chrono::milliseconds(20));
  std::string second = date_of(raw("GET /hello.txt HTTP/1.1\r\n\r\n"));
  EXPECT_NE(first, second);
  EXPECT_TRUE(cb::testing::is_imf_fixdate(second)) << second;
  // And it is the time now: the system clock's second or one of the two
  // before it (the coarse clock lags by a tick; a sanitizer build on a busy
  // machine may take a while between the two reads).
  ::clock_gettime(CLOCK_REALTIME, &ts);
  bool recent = false;
  for (time_t back = 0; back <= 2; ++back) {
    recent = recent || second == date_line(ts.tv_sec - back).substr(6, 29);
  }
  EXPECT_TRUE(recent) << second << " vs " << date_line(ts.tv_sec);
}

TEST_F(HttpTest, WellFormedClientErrorsKeepTheConnection) {
  Outcome o = whole(get("/nope.txt") + "DELETE /hello.txt HTTP/1.1\r\n\r\n" + get("/hello.txt"));
  EXPECT_EQ(o.bytes, expected_error(404, true) + expected_error(405, true) +
                         expected_ok("text/plain", kHello));
  EXPECT_FALSE(o.closing);
  EXPECT_EQ(o.requests, 3u);
  EXPECT_EQ(o.http_4xx, 2u);
  EXPECT_EQ(o.http_2xx, 1u);
  // A 404 to a request that asked to close still closes.
  o = whole("GET /nope.txt HTTP/1.1\r\nConnection: close\r\n\r\n" + get("/hello.txt"));
  EXPECT_EQ(o.bytes, expected_error(404, false));
  EXPECT_TRUE(o.closing);
  o = whole("GET /nope.txt HTTP/1.0\r\n\r\n");
  EXPECT_EQ(o.bytes, expected_error(404, false));
  EXPECT_TRUE(o.closing);
}

}  // namespace
}  // namespace cb::proto
