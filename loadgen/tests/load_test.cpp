// load_test.cpp: run_load end to end against the in-process test server:
// exact request and byte counts, pipelining, HTTP status classes, --close,
// coordinated-omission correction, echo verification, timeouts with
// reconnect, connect errors, source addresses, stop() and progress.
#include "loadgen/load.h"
#include "loadgen/report.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include "test_server.h"

namespace cb::loadgen {
namespace {

using testing::TestServer;
using testing::TestServerOptions;
using namespace std::chrono_literals;

uint64_t errors(const LoadResult& r, ErrorClass c) {
  return r.counters.errors[static_cast<std::size_t>(c)];
}

LoadConfig echo_config(uint16_t port) {
  LoadConfig c;
  c.port = port;
  c.proto = Proto::kEcho;
  c.msg_size = 100;
  c.duration = 0ns;
  return c;
}

LoadConfig http_config(uint16_t port) {
  LoadConfig c = echo_config(port);
  c.proto = Proto::kHttp;
  c.paths = {{"/index.html", 1}};
  return c;
}

TEST(Load, ClosedLoopEchoCountsEveryRequestAndByte) {
  TestServer server({});
  LoadConfig c = echo_config(server.port());
  c.threads = 2;
  c.connections = 4;
  c.max_requests = 1000;
  LoadResult r = run_load(c);
  EXPECT_EQ(r.stop_reason, "requests");
  EXPECT_EQ(r.counters.requests, 1000u);
  EXPECT_EQ(r.counters.bytes_written, 100'000u);
  EXPECT_EQ(r.counters.bytes_read, 100'000u);
  EXPECT_EQ(r.counters.error_total(), 0u);
  EXPECT_EQ(r.counters.connections_opened, 4u);
  EXPECT_EQ(r.corrected.count(), 1000u);
  EXPECT_EQ(r.uncorrected.count(), 1000u);
  EXPECT_EQ(r.exit_code(), 0);
}

TEST(Load, PipelinedEchoKeepsEveryResponseInOrder) {
  TestServer server({});
  LoadConfig c = echo_config(server.port());
  c.connections = 3;
  c.pipeline = 16;
  c.msg_size = 1000;
  c.max_requests = 3000;
  LoadResult r = run_load(c);
  EXPECT_EQ(r.counters.requests, 3000u);
  EXPECT_EQ(r.counters.bytes_read, 3'000'000u);
  EXPECT_EQ(r.counters.error_total(), 0u);
}

TEST(Load, HttpKeepAliveCountsStatusClassesAndBytes) {
  TestServerOptions o;
  o.mode = TestServerOptions::Mode::kHttp;
  o.body_size = 1024;
  TestServer server(o);
  LoadConfig c = http_config(server.port());
  c.connections = 5;
  c.pipeline = 2;
  c.max_requests = 500;
  LoadResult r = run_load(c);
  EXPECT_EQ(r.counters.requests, 500u);
  EXPECT_EQ(r.counters.status_classes[2], 500u);
  std::size_t head = std::string("HTTP/1.1 200 X\r\nContent-Length: 1024\r\n\r\n").size();
  std::size_t response = head + 1024;
  EXPECT_EQ(r.counters.bytes_read, 500 * response);
  EXPECT_EQ(r.counters.response_head_bytes, 500 * head);
  EXPECT_EQ(r.counters.response_body_bytes, 500u * 1024);
  EXPECT_EQ(r.response_header_bytes_per_request(), static_cast<double>(head));
  EXPECT_EQ(r.response_body_bytes_per_request(), 1024.0);
  EXPECT_EQ(server.requests(), 500u);
  EXPECT_EQ(r.counters.error_total(), 0u);
  EXPECT_EQ(r.counters.connections_opened, 5u);
}

TEST(Load, NonSuccessStatusIsCountedAsAnError) {
  TestServerOptions o;
  o.mode = TestServerOptions::Mode::kHttp;
  o.status = 404;
  TestServer server(o);
  LoadConfig c = http_config(server.port());
  c.max_requests = 50;
  LoadResult r = run_load(c);
  EXPECT_EQ(r.counters.requests, 50u);
  EXPECT_EQ(r.counters.status_classes[4], 50u);
  EXPECT_EQ(errors(r, ErrorClass::kStatus), 50u);
  EXPECT_EQ(r.exit_code(), 1);
}

TEST(Load, CloseModeOpensOneConnectionPerRequest) {
  TestServerOptions o;
  o.mode = TestServerOptions::Mode::kHttp;
  o.close_after_response = true;
  TestServer server(o);
  LoadConfig c = http_config(server.port());
  c.connections = 4;
  c.close_after_request = true;
  c.max_requests = 200;
  LoadResult r = run_load(c);
  EXPECT_EQ(r.counters.requests, 200u);
  EXPECT_EQ(r.counters.connections_opened, 200u);
  EXPECT_EQ(server.accepted(), 200u);
  EXPECT_EQ(r.counters.error_total(), 0u);
}

TEST(Load, ServerClosingAfterEachResponseIsNotAnError) {
  TestServerOptions o;
  o.mode = TestServerOptions::Mode::kHttp;
  o.close_after_response = true;  // "Connection: close" on a keep-alive client
  TestServer server(o);
  LoadConfig c = http_config(server.port());
  c.connections = 1;  // with more, one may reconnect just before -n is reached
  c.max_requests = 100;
  LoadResult r = run_load(c);
  EXPECT_EQ(r.counters.requests, 100u);
  EXPECT_EQ(r.counters.error_total(), 0u);
  EXPECT_EQ(r.counters.connections_opened, 100u);
}

TEST(Load, BodyEndingAtCloseCompletesTheRequest) {
  TestServerOptions o;
  o.mode = TestServerOptions::Mode::kHttp;
  o.no_content_length = true;  // data and FIN can arrive in one go
  o.body_size = 3000;
  TestServer server(o);
  LoadConfig c = http_config(server.port());
  c.connections = 2;
  c.max_requests = 20;
  c.request_timeout = 500ms;  // a missed EOF would time out, not hang the test
  LoadResult r = run_load(c);
  EXPECT_EQ(r.counters.requests, 20u);
  EXPECT_EQ(r.counters.status_classes[2], 20u);
  EXPECT_EQ(r.counters.error_total(), 0u);
}

TEST(Load, EchoVerificationCatchesACorruptingServer) {
  TestServerOptions o;
  o.corrupt_offset = 10;  // the 11th byte of every connection's stream
  TestServer server(o);
  LoadConfig c = echo_config(server.port());
  c.connections = 3;
  c.max_requests = 300;
  LoadResult r = run_load(c);
  EXPECT_EQ(r.counters.requests, 300u);
  EXPECT_EQ(errors(r, ErrorClass::kMismatch), 3u);  // one message per connection
  EXPECT_EQ(r.exit_code(), 1);
}

TEST(Load, TimedOutRequestIsCountedAndTheConnectionReopens) {
  TestServerOptions o;
  o.silent_every = 1000;  // only the first connection accepted is never answered
  TestServer server(o);
  LoadConfig c = echo_config(server.port());
  c.connections = 1;
  c.max_requests = 100;
  c.request_timeout = 200ms;
  LoadResult r = run_load(c);
  EXPECT_EQ(errors(r, ErrorClass::kTimeout), 1u);
  EXPECT_EQ(r.counters.connections_opened, 2u);
  EXPECT_EQ(r.counters.requests, 99u);  // the timed-out one counts towards -n
  EXPECT_EQ(server.accepted(), 2u);
}

// A client the server never answers has no latency to record: it is counted
// as unanswered through the window instead, so the starvation shows.
TEST(Load, RequestsUnansweredThroughTheWindowAreCounted) {
  TestServerOptions o;
  o.silent_every = 2;  // connections 0 and 2 of 4 are never answered
  TestServer server(o);
  LoadConfig c = echo_config(server.port());
  c.connections = 4;
  c.warmup = 200ms;
  c.duration = 300ms;
  LoadResult r = run_load(c);
  EXPECT_EQ(r.stop_reason, "duration");
  EXPECT_GT(r.counters.requests, 0u);
  EXPECT_EQ(r.counters.unanswered_through_window, 2u);
  EXPECT_EQ(r.counters.error_total(), 0u);
  EXPECT_EQ(r.to_json()["results"]["requests_unanswered_through_window"], 2u);
}

// Half the connection slots starve: fairness shows it where the latency
// percentiles of the served half cannot. Two threads, so the figures are
// merged across workers.
TEST(Load, StarvedConnectionsLowerTheFairnessIndex) {
  TestServerOptions o;
  o.silent_every = 2;  // 2 of the 4 connections accepted are never answered
  TestServer server(o);
  LoadConfig c = echo_config(server.port());
  c.threads = 2;
  c.connections = 4;
  c.warmup = 100ms;
  c.duration = 300ms;
  LoadResult r = run_load(c);
  ASSERT_EQ(server.accepted(), 4u);  // no reconnects: exactly two slots starve
  nlohmann::json f = r.to_json()["results"]["fairness"];
  EXPECT_EQ(f["connections"], 4);
  EXPECT_EQ(f["min_requests_per_conn"], 0);
  uint64_t total = r.counters.requests, most = f["max_requests_per_conn"];
  ASSERT_GT(total, 0u);
  EXPECT_DOUBLE_EQ(f["mean_requests_per_conn"].get<double>(), static_cast<double>(total) / 4);
  // Slots {0, 0, most, total - most}: the exact index.
  double a = static_cast<double>(most), b = static_cast<double>(total - most);
  double expected = (a + b) * (a + b) / (4 * (a * a + b * b));
  EXPECT_NEAR(f["jain_index"].get<double>(), expected, 1e-12);
  EXPECT_LE(f["jain_index"].get<double>(), 0.5 + 1e-12);  // at best the served two are equal
  EXPECT_NE(format_summary(r).find("Fairness: Jain 0."), std::string::npos) << format_summary(r);
}

TEST(Load, AServerThatAnswersEveryoneLeavesNothingUnanswered) {
  TestServer server({});
  LoadConfig c = echo_config(server.port());
  c.connections = 4;
  c.pipeline = 4;
  c.warmup = 100ms;
  c.duration = 200ms;
  LoadResult r = run_load(c);
  EXPECT_GT(r.counters.requests, 0u);
  EXPECT_EQ(r.counters.unanswered_through_window, 0u);
  EXPECT_EQ(r.fairness.connections, 4u);
  EXPECT_EQ(r.fairness.total, r.counters.requests);  // every counted response has a slot
  EXPECT_GT(r.fairness.min_per_conn(), 0u);
}

TEST(Load, NothingListeningGivesConnectErrorsAndStopsEarly) {
  LoadConfig c = echo_config(testing::unused_port());
  c.threads = 2;
  c.connections = 6;
  c.duration = 20s;  // not waited for: the run gives up once every connect failed
  LoadResult r = run_load(c);
  EXPECT_EQ(r.stop_reason, "unreachable");
  EXPECT_GE(errors(r, ErrorClass::kConnect), 6u);
  EXPECT_EQ(r.counters.first_errno[static_cast<std::size_t>(ErrorClass::kConnect)], ECONNREFUSED);
  EXPECT_EQ(r.counters.requests, 0u);
  EXPECT_EQ(r.counters.connections_opened, 0u);
  EXPECT_EQ(r.exit_code(), 1);
}

TEST(Load, OpenLoopCorrectsForAServerStall) {
  TestServerOptions o;
  o.stall_after = 64 * 600;  // about 0.3 s into the run
  o.stall_ms = 200;
  TestServer server(o);
  LoadConfig c = echo_config(server.port());
  c.msg_size = 64;
  c.connections = 10;
  c.rate_per_s = 2000;
  c.duration = 1500ms;
  LoadResult r = run_load(c);
  ASSERT_GT(r.counters.requests, 1000u);
  // Requests meant to go out during the stall (~13% of the run) waited for
  // it: the corrected tail shows the stall.
  EXPECT_GE(r.corrected.value_at_percentile(99), 100'000'000u);
  // Only the few requests in flight saw it from their actual send time.
  EXPECT_GE(r.uncorrected.max(), 100'000'000u);
  EXPECT_GT(errors(r, ErrorClass::kLate), 0u);
  EXPECT_EQ(r.corrected.count(), r.uncorrected.count());
  EXPECT_EQ(r.counters.error_total(), 0u);
  // The time series places the stall: the worst interval's p99 shows it,
  // the best interval's does not.
  nlohmann::json ts = r.to_json()["results"]["timeseries"];
  double worst = 0, best = 1e12;
  for (const auto& i : ts["intervals"]) {
    if (i["p99_us"].is_null()) continue;
    worst = std::max(worst, i["p99_us"].get<double>());
    best = std::min(best, i["p99_us"].get<double>());
  }
  EXPECT_GE(worst, 100'000.0);
  EXPECT_LT(best, 50'000.0);
}

// The series covers the warm-up and the window; the window's intervals
// partition it, so their counts add up exactly to the run's totals.
TEST(Load, TimeSeriesAddsUpToTheRunTotals) {
  TestServer server({});
  LoadConfig c = echo_config(server.port());
  c.threads = 2;
  c.connections = 4;
  c.warmup = 250ms;
  c.duration = 600ms;
  c.interval = 100ms;
  LoadResult r = run_load(c);
  ASSERT_GT(r.counters.requests, 100u);
  nlohmann::json ts = r.to_json()["results"]["timeseries"];
  EXPECT_DOUBLE_EQ(ts["interval_s"].get<double>(), 0.1);
  uint64_t requests = 0, bytes = 0, warmup_requests = 0;
  int window = 0, warmup = 0;
  double covered = 0;
  for (const auto& i : ts["intervals"]) {
    if (i["warmup"].get<bool>()) {
      ++warmup;
      warmup_requests += i["requests"].get<uint64_t>();
      EXPECT_LT(i["start_s"].get<double>(), 0);
      continue;
    }
    ++window;
    EXPECT_GE(i["start_s"].get<double>(), 0);
    requests += i["requests"].get<uint64_t>();
    bytes += i["bytes_read"].get<uint64_t>();
    covered += i["duration_s"].get<double>();
    EXPECT_EQ(i["connections_open"].get<int64_t>(), 4);
    EXPECT_FALSE(i["p99_us"].is_null());
  }
  EXPECT_EQ(warmup, 3);  // 250 ms of warm-up reaches back three 100 ms intervals
  EXPECT_EQ(window, 6);
  EXPECT_GT(warmup_requests, 0u);
  EXPECT_EQ(requests, r.counters.requests);
  EXPECT_EQ(bytes, r.counters.bytes_read);
  EXPECT_NEAR(covered, r.duration_s, 1e-9);
}

TEST(Load, OpenLoopNeverSendsMoreThanTheSchedule) {
  TestServer server({});
  LoadConfig c = echo_config(server.port());
  c.connections = 10;
  c.rate_per_s = 500;
  c.duration = 1s;
  LoadResult r = run_load(c);
  // 500 intended sends in the window, plus at most one in flight per
  // connection from before it.
  EXPECT_LE(r.counters.requests, 510u);
  EXPECT_GT(r.counters.requests, 0u);
}

TEST(Load, ConnectionsSpreadOverSourceAddresses) {
  TestServer server({});
  LoadConfig c = echo_config(server.port());
  c.connections = 8;
  c.max_requests = 80;
  c.source_ips = parse_source_ips("127.0.0.2-127.0.0.5");
  LoadResult r = run_load(c);
  EXPECT_EQ(r.counters.requests, 80u);
  EXPECT_EQ(r.counters.error_total(), 0u);
  EXPECT_EQ(server.peer_addresses(),
            (std::set<std::string>{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}));
}

TEST(Load, StopEndsTheRunAndProgressCounts) {
  TestServer server({});
  LoadConfig c = echo_config(server.port());
  c.connections = 2;
  c.duration = 60s;
  LoadControl control;
  std::thread stopper([&] {
    for (int i = 0; i < 1000 && control.progress().requests < 100; ++i)
      std::this_thread::sleep_for(10ms);
    control.stop();
  });
  LoadResult r = run_load(c, &control);
  stopper.join();
  EXPECT_EQ(r.stop_reason, "stopped");
  EXPECT_GE(r.counters.requests, 100u);
  Progress p = control.progress();
  EXPECT_EQ(p.phase, Progress::Phase::kDone);
  EXPECT_GE(p.requests, r.counters.requests);
}

TEST(Load, BadConfigIsRefusedBeforeAnythingStarts) {
  LoadConfig c = echo_config(1);
  c.pipeline = 0;
  EXPECT_THROW(run_load(c), std::invalid_argument);
  c = echo_config(1);
  c.host = "localhost";  // numeric addresses only
  EXPECT_THROW(run_load(c), std::invalid_argument);
}

}  // namespace
}  // namespace cb::loadgen
