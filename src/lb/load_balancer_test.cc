#include "lb/load_balancer.h"

#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <map>
#include <thread>

#include "lb/test_upstream.h"
#include "net/http.h"

namespace weft::lb {
namespace {

using namespace std::chrono_literals;

constexpr auto kWait = 10s;  // generous bound for anything that should happen promptly

std::unique_ptr<LoadBalancer> MustStart(LoadBalancerOptions options = {}) {
  if (options.service_name == "default") options.service_name = "llama";
  auto lb = LoadBalancer::Start(std::move(options));
  EXPECT_TRUE(lb.has_value()) << lb.error().message;
  return lb.has_value() ? std::move(*lb) : nullptr;
}

LoadBalancerOptions Options(int workers, std::string picker = "round_robin") {
  LoadBalancerOptions options;
  options.workers = workers;
  options.picker = std::move(picker);
  return options;
}

Backend At(const std::string& id, const TestUpstream& upstream, bool ready = true) {
  return {id, "127.0.0.1", upstream.port(), ready};
}

std::string Url(const LoadBalancer& lb) { return "http://" + lb.address(); }

// Who answered: the first word of a default TestUpstream body.
std::string Replica(const net::HttpResponse& response) {
  return response.body.substr(0, response.body.find(' '));
}

// Stats once `done` holds (or after kWait): a request is counted just after its response
// went out, so a client can see the answer before the count.
LbStats StatsWhen(const LoadBalancer& lb, const std::function<bool(const LbStats&)>& done) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  LbStats stats = lb.Stats();
  while (!done(stats) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
    stats = lb.Stats();
  }
  return stats;
}

LbStats StatsAfter(const LoadBalancer& lb, std::int64_t requests) {
  return StatsWhen(lb, [&](const LbStats& s) {
    return s.total.requests >= requests && s.total.in_flight == 0;
  });
}

bool Contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

TEST(LoadBalancerTest, ReportsTheBoundPort) {
  auto lb = MustStart();
  ASSERT_NE(lb, nullptr);

  EXPECT_GT(lb->port(), 0);
  EXPECT_EQ(lb->address(), "127.0.0.1:" + std::to_string(lb->port()));
}

TEST(LoadBalancerTest, RejectsAnUnknownPickerNamingTheField) {
  LoadBalancerOptions options;
  options.picker = "fastest";

  auto lb = LoadBalancer::Start(options);

  ASSERT_FALSE(lb.has_value());
  EXPECT_TRUE(Contains(lb.error().message, "picker")) << lb.error().message;
}

TEST(LoadBalancerTest, SpreadsRequestsOverReadyBackends) {
  TestUpstream a("a"), b("b"), c("c");
  auto lb = MustStart(Options(2));
  ASSERT_TRUE(lb->SetBackends({At("a", a), At("b", b), At("c", c)}).has_value());
  net::HttpClient client(Url(*lb), "");
  std::map<std::string, int> answered;

  for (int i = 0; i < 30; ++i) {
    auto response = client.Post("/v1/completions?x=1", "prompt-" + std::to_string(i), kWait);
    ASSERT_TRUE(response.has_value()) << response.error().message;
    ASSERT_EQ(response->status, 200);
    EXPECT_TRUE(Contains(response->body, "POST /v1/completions?x=1 prompt-" + std::to_string(i)))
        << response->body;
    ++answered[Replica(*response)];
  }

  EXPECT_EQ(answered, (std::map<std::string, int>{{"a", 10}, {"b", 10}, {"c", 10}}));
}

// `weft serve update` changing load_balancing: the running balancer switches policy.
TEST(LoadBalancerTest, SwitchesPolicyWhileRunning) {
  TestUpstream a("a"), b("b"), c("c");
  auto lb = MustStart(Options(1, "power_of_two"));
  ASSERT_TRUE(lb->SetBackends({At("a", a), At("b", b), At("c", c)}).has_value());
  net::HttpClient client(Url(*lb), "");
  auto spread = [&] {
    std::map<std::string, int> answered;
    for (int i = 0; i < 30; ++i) {
      auto response = client.Get("/", kWait);
      EXPECT_TRUE(response.has_value() && response->status == 200);
      if (response) ++answered[Replica(*response)];
    }
    return answered;
  };
  const std::map<std::string, int> even{{"a", 10}, {"b", 10}, {"c", 10}};
  EXPECT_NE(spread(), even);  // two random choices: uneven (deterministic for this seed)
  const Result<> bad = lb->SetPicker("fastest");
  ASSERT_FALSE(bad.has_value());
  EXPECT_TRUE(Contains(bad.error().message, "picker")) << bad.error().message;
  ASSERT_TRUE(lb->SetPicker("round_robin").has_value());
  EXPECT_EQ(spread(), even);
}

TEST(LoadBalancerTest, NotReadyBackendGetsNothingUntilItIsReady) {
  TestUpstream a("a"), b("b");
  auto lb = MustStart();
  ASSERT_TRUE(lb->SetBackends({At("a", a), At("b", b, /*ready=*/false)}).has_value());
  net::HttpClient client(Url(*lb), "");

  for (int i = 0; i < 10; ++i) {
    auto response = client.Get("/", kWait);
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(Replica(*response), "a");
  }
  EXPECT_EQ(b.requests(), 0);

  ASSERT_TRUE(lb->SetReady("b", true).has_value());
  std::map<std::string, int> answered;
  for (int i = 0; i < 10; ++i) ++answered[Replica(*client.Get("/", kWait))];
  EXPECT_EQ(answered["b"], 5);
  EXPECT_EQ(lb->SetReady("zz", true).error().code, ErrorCode::kNotFound);
}

TEST(LoadBalancerTest, Answers503NamingTheServiceWhenNoReplicaIsReady) {
  TestUpstream a("a");
  auto lb = MustStart();
  net::HttpClient client(Url(*lb), "");

  auto no_backends = client.Get("/", kWait);
  ASSERT_TRUE(lb->SetBackends({At("a", a, /*ready=*/false)}).has_value());
  auto none_ready = client.Get("/", kWait);

  ASSERT_TRUE(no_backends.has_value() && none_ready.has_value());
  EXPECT_EQ(no_backends->status, 503);
  EXPECT_EQ(none_ready->status, 503);
  EXPECT_TRUE(Contains(none_ready->body, "no ready replica for service llama"))
      << none_ready->body;
  EXPECT_EQ(a.requests(), 0);
  EXPECT_EQ(StatsAfter(*lb, 2).total.errors, 2);
}

TEST(LoadBalancerTest, RetriesAConnectFailureOnAnotherBackend) {
  TestUpstream good("good");
  auto lb = MustStart();
  ASSERT_TRUE(lb->SetBackends({{"dead", "127.0.0.1", ClosedPort(), true}, At("good", good)})
                  .has_value());
  net::HttpClient client(Url(*lb), "");

  for (int i = 0; i < 6; ++i) {
    auto response = client.Get("/", kWait);
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(Replica(*response), "good");
  }

  const LbStats stats = StatsAfter(*lb, 6);
  ASSERT_EQ(stats.backends.size(), 2u);
  EXPECT_EQ(stats.backends[0].id, "dead");
  EXPECT_GT(stats.backends[0].traffic.errors, 0);
  EXPECT_EQ(stats.backends[1].traffic.requests, 6);
  EXPECT_EQ(stats.total.requests, 6);
  EXPECT_EQ(stats.total.errors, 0);
}

TEST(LoadBalancerTest, Answers502WhenEveryBackendRefuses) {
  auto lb = MustStart();
  ASSERT_TRUE(lb->SetBackends({{"x", "127.0.0.1", ClosedPort(), true},
                               {"y", "127.0.0.1", ClosedPort(), true}})
                  .has_value());
  net::HttpClient client(Url(*lb), "");

  auto response = client.Get("/", kWait);

  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 502);
  EXPECT_TRUE(Contains(response->body, "llama")) << response->body;
}

TEST(LoadBalancerTest, StreamsChunksBeforeTheUpstreamResponseEnds) {
  TestUpstream a("a");
  auto lb = MustStart();
  ASSERT_TRUE(lb->SetBackends({At("a", a)}).has_value());
  RawConnection client(lb->port());
  ASSERT_TRUE(client.Send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));

  // The upstream holds the rest of its response until released below: the first event can
  // only reach the client if the balancer relays it as it arrives.
  const std::string first = client.ReadUntil(
      [](const std::string& s) { return Contains(s, "data: first"); }, kWait);
  EXPECT_TRUE(Contains(first, "data: first")) << first;
  EXPECT_TRUE(Contains(first, "text/event-stream")) << first;
  EXPECT_FALSE(Contains(first, "data: second"));
  a.ReleaseStream();
  const std::string all = client.ReadUntil(
      [](const std::string& s) { return Contains(s, "0\r\n\r\n"); }, kWait);

  EXPECT_TRUE(Contains(all, "data: second")) << all;
  EXPECT_TRUE(Contains(all, "\r\n0\r\n\r\n")) << all;  // the chunked body ends properly
}

TEST(LoadBalancerTest, AnswersExpectContinueAndForwardsAChunkedRequestBody) {
  TestUpstream a("a");
  auto lb = MustStart();
  ASSERT_TRUE(lb->SetBackends({At("a", a)}).has_value());
  RawConnection client(lb->port());
  ASSERT_TRUE(client.Send("POST /gen HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n"));

  const std::string interim = client.ReadUntil(
      [](const std::string& s) { return Contains(s, "\r\n\r\n"); }, kWait);
  ASSERT_TRUE(Contains(interim, "HTTP/1.1 100 Continue")) << interim;
  ASSERT_TRUE(client.Send("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  const std::string all = client.ReadUntil(
      [](const std::string& s) { return Contains(s, "hello world"); }, kWait);

  EXPECT_TRUE(Contains(all, "HTTP/1.1 200 OK")) << all;
  EXPECT_TRUE(Contains(all, "a POST /gen hello world")) << all;
}

TEST(LoadBalancerTest, GivesAnHttp10ClientAStreamWithoutChunking) {
  TestUpstream a("a");
  auto lb = MustStart();
  ASSERT_TRUE(lb->SetBackends({At("a", a)}).has_value());
  a.ReleaseStream();
  RawConnection client(lb->port());
  ASSERT_TRUE(client.Send("GET /stream HTTP/1.0\r\n\r\n"));

  bool closed = false;
  const std::string all =
      client.ReadUntil([](const std::string&) { return false; }, kWait, &closed);

  EXPECT_TRUE(closed);  // the end of the body is the end of the connection
  EXPECT_TRUE(Contains(all, "HTTP/1.0 200 OK")) << all;
  EXPECT_FALSE(Contains(all, "chunked")) << all;
  EXPECT_TRUE(Contains(all, "\r\n\r\ndata: first\n\ndata: second\n\n")) << all;
}

TEST(LoadBalancerTest, ReusesUpstreamConnections) {
  TestUpstream a("a");
  auto lb = MustStart();
  ASSERT_TRUE(lb->SetBackends({At("a", a)}).has_value());

  for (int c = 0; c < 2; ++c) {
    net::HttpClient client(Url(*lb), "");
    for (int i = 0; i < 10; ++i) {
      auto response = client.Get("/", kWait);
      ASSERT_TRUE(response.has_value());
      ASSERT_EQ(response->status, 200) << response->body;
    }
  }

  EXPECT_EQ(a.requests(), 20);
  EXPECT_EQ(a.connections(), 1);
}

TEST(LoadBalancerTest, BackendDyingMidResponseFailsTheClientFast) {
  TestUpstream a("a");
  auto lb = MustStart();
  ASSERT_TRUE(lb->SetBackends({At("a", a)}).has_value());
  RawConnection client(lb->port());
  ASSERT_TRUE(client.Send("GET /die HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto start = std::chrono::steady_clock::now();

  bool closed = false;
  const std::string got = client.ReadUntil([](const std::string&) { return false; }, kWait,
                                           &closed);

  EXPECT_TRUE(closed);  // the client sees the cut, not a hang
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_LT(got.size(), 1000u);
  EXPECT_EQ(StatsAfter(*lb, 1).backends[0].traffic.errors, 1);
}

TEST(LoadBalancerTest, BackendHangingUpBeforeRespondingGives502) {
  TestUpstream a("a");
  auto lb = MustStart();
  ASSERT_TRUE(lb->SetBackends({At("a", a)}).has_value());
  net::HttpClient client(Url(*lb), "");

  auto response = client.Get("/hangup", kWait);
  auto next = client.Get("/", kWait);

  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 502);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->status, 200);
}

TEST(LoadBalancerTest, Answers504WhenTheReplicaDoesNotAnswerInTime) {
  TestUpstream a("a");
  LoadBalancerOptions options;
  options.upstream_timeout = 200ms;
  auto lb = MustStart(options);
  ASSERT_TRUE(lb->SetBackends({At("a", a)}).has_value());
  net::HttpClient client(Url(*lb), "");

  auto response = client.Get("/hang", kWait);

  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 504);
  EXPECT_TRUE(Contains(response->body, "replica a of service llama timed out")) << response->body;
}

TEST(LoadBalancerTest, ClosesAClientIdlePastTheTimeout) {
  LoadBalancerOptions options;
  options.client_idle_timeout = 200ms;
  auto lb = MustStart(options);
  RawConnection client(lb->port());
  const auto start = std::chrono::steady_clock::now();

  bool closed = false;
  client.ReadUntil([](const std::string&) { return false; }, kWait, &closed);

  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(LoadBalancerTest, RetriesAPooledConnectionTheReplicaClosed) {
  auto a = std::make_unique<TestUpstream>("a");
  const int port = a->port();
  auto lb = MustStart();
  ASSERT_TRUE(lb->SetBackends({{"a", "127.0.0.1", port, true}}).has_value());
  net::HttpClient client(Url(*lb), "");
  ASSERT_EQ(client.Get("/", kWait)->status, 200);

  a->Stop();  // closes the pooled connection
  TestUpstream b("b");
  ASSERT_TRUE(lb->SetBackends({{"a", "127.0.0.1", port, true}, At("b", b)}).has_value());
  std::map<std::string, int> answered;
  for (int i = 0; i < 4; ++i) {
    auto response = client.Get("/", kWait);
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
    ++answered[Replica(*response)];
  }

  EXPECT_EQ(answered["b"], 4);
}

TEST(LoadBalancerTest, ReconnectsWhenTheOnlyReplicaClosedItsKeptAliveConnection) {
  TestUpstream a("a");
  auto lb = MustStart();
  ASSERT_TRUE(lb->SetBackends({At("a", a)}).has_value());
  net::HttpClient client(Url(*lb), "");

  for (int i = 0; i < 5; ++i) {
    auto response = client.Get("/idle-close", kWait);
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200) << response->body;
  }

  EXPECT_EQ(a.connections(), 5);
  EXPECT_EQ(StatsAfter(*lb, 5).total.errors, 0);
}

TEST(LoadBalancerTest, HoldsRequestsUntilAReplicaIsReady) {
  TestUpstream a("a");
  auto lb = MustStart();
  ASSERT_TRUE(lb->SetBackends({At("a", a, /*ready=*/false)}).has_value());
  lb->SetHoldWhenEmpty(30s);

  auto pending = std::async(std::launch::async, [&] {
    net::HttpClient client(Url(*lb), "");
    return client.Get("/", kWait);
  });
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (lb->Stats().total.in_flight == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_EQ(lb->Stats().total.in_flight, 1);  // held, not answered
  ASSERT_TRUE(lb->SetReady("a", true).has_value());

  auto response = pending.get();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

TEST(LoadBalancerTest, StatsCountRequestsLatencyAndRate) {
  TestUpstream a("a"), b("b");
  auto lb = MustStart(Options(1, "least_outstanding"));
  ASSERT_TRUE(lb->SetBackends({At("a", a), At("b", b)}).has_value());
  net::HttpClient client(Url(*lb), "");

  for (int i = 0; i < 10; ++i) ASSERT_EQ(client.Get("/", kWait)->status, 200);
  const LbStats stats = StatsAfter(*lb, 10);

  EXPECT_EQ(stats.total.requests, 10);
  EXPECT_EQ(stats.total.errors, 0);
  EXPECT_EQ(stats.total.in_flight, 0);
  EXPECT_EQ(stats.total.latency_samples, 10);
  EXPECT_GT(stats.total.p50, Duration(0));
  EXPECT_GE(stats.total.p99, stats.total.p50);
  EXPECT_GT(stats.total.qps, 0);
  ASSERT_EQ(stats.backends.size(), 2u);
  EXPECT_EQ(stats.backends[0].traffic.requests + stats.backends[1].traffic.requests, 10);
  EXPECT_TRUE(stats.backends[0].ready);
}

TEST(LoadBalancerTest, KeepsServingWhileBackendsChange) {
  TestUpstream a("a"), b("b");
  auto lb = MustStart(Options(2));
  ASSERT_TRUE(lb->SetBackends({At("a", a)}).has_value());
  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    for (int i = 0; !stop.load(); ++i) {
      (void)lb->SetBackends({At("a", a), At("b", b, i % 2 == 0)});
      (void)lb->SetReady("a", true);
    }
  });

  net::HttpClient client(Url(*lb), "");
  int ok = 0;
  for (int i = 0; i < 50; ++i) ok += client.Get("/", kWait)->status == 200 ? 1 : 0;
  stop = true;
  flipper.join();

  EXPECT_EQ(ok, 50);
}

}  // namespace
}  // namespace weft::lb
