#include "net/http.h"
#include "net/http_status.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/strings.h"
#include "testing/test_certificates.h"

namespace weft::net {
namespace {

using namespace std::chrono_literals;

constexpr auto kWait = 10s;  // Generous bound for anything that should happen promptly.

// Polls `condition` every 10 ms until it holds (true) or kWait passes (false).
bool PollUntilTrue(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::unique_ptr<HttpServer> MustStart(Handler handler, int threads = 1,
                                      const std::string& address = "127.0.0.1:0") {
  auto server = StartHttpServer(address, std::move(handler), threads);
  EXPECT_TRUE(server.has_value()) << server.error().message;
  return server.has_value() ? std::move(*server) : nullptr;
}

std::string UrlOf(const HttpServer& server) { return "http://" + server.address(); }

HttpResponse Text(std::string body, int status = 200) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain";
  response.body = std::move(body);
  return response;
}

std::string HeaderOf(const HttpResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

// ---- Raw sockets, to observe connections without going through the code under test. ----

int ParsePort(const std::string& address) {
  return static_cast<int>(*ParseInt(address.substr(address.rfind(':') + 1)));
}

void SetRecvTimeout(int fd) {
  timeval tv{};
  tv.tv_sec = 10;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

int ConnectRaw(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  SetRecvTimeout(fd);
  return fd;
}

void SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Reads one HTTP message (head and a Content-Length body); nullopt on EOF or error.
std::optional<std::string> ReadMessage(int fd, std::string& buffer) {
  while (true) {
    const size_t end = buffer.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::string head = buffer.substr(0, end + 4);
      std::transform(head.begin(), head.end(), head.begin(), ::tolower);
      size_t length = 0;
      const size_t at = head.find("content-length:");
      if (at != std::string::npos) {
        length = static_cast<size_t>(
            *ParseInt(Trim(head.substr(at + 15, head.find("\r\n", at) - at - 15))));
      }
      if (buffer.size() >= end + 4 + length) {
        std::string message = buffer.substr(0, end + 4 + length);
        buffer.erase(0, end + 4 + length);
        return message;
      }
    }
    char chunk[16384];
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return std::nullopt;
    buffer.append(chunk, static_cast<size_t>(n));
  }
}

// A hand-written HTTP server on one listening socket: serves keep-alive responses ("ok") on
// the connections it accepts, one at a time, until the peer closes.
class RawServer {
 public:
  RawServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listen_fd_, 16), 0);
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~RawServer() { close(listen_fd_); }

  int port() const { return port_; }

  // Accepts one connection and answers requests on it until EOF; returns how many.
  int ServeOneConnection() {
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return -1;
    SetRecvTimeout(fd);
    std::string buffer;
    int served = 0;
    while (ReadMessage(fd, buffer)) {
      SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok");
      ++served;
    }
    close(fd);
    return served;
  }

 private:
  int listen_fd_ = -1;
  int port_ = 0;
};

// ---- Tests ----

TEST(UrlEncodeTest, EncodesReservedAndNonAsciiBytes) {
  EXPECT_EQ(UrlEncode("abc-_.~XYZ09"), "abc-_.~XYZ09");
  EXPECT_EQ(UrlEncode("a b/c&d=e+f%"), "a%20b%2Fc%26d%3De%2Bf%25");
  EXPECT_EQ(UrlEncode("\xC3\xA9"), "%C3%A9");
}

TEST(HttpTest, RoundTripDecodesPathQueryAndHeaders) {
  std::promise<HttpRequest> seen;
  auto server = MustStart([&](HttpRequest request, Responder respond) {
    seen.set_value(request);
    HttpResponse response;
    response.status = 201;
    response.body = R"({"ok":true})";
    response.headers.emplace_back("X-Weft", "yes");
    respond(std::move(response));
  });
  ASSERT_TRUE(server);
  EXPECT_TRUE(StartsWith(server->address(), "127.0.0.1:"));
  EXPECT_NE(ParsePort(server->address()), 0);

  HttpClient client(UrlOf(*server), "s3cret");
  const std::string target =
      "/v1/jobs%20x?state=PENDING&name=" + UrlEncode("a+b c&=") + "&flag&sp=x+y";
  auto response = client.Post(target, R"({"a":1})");
  ASSERT_TRUE(response.has_value()) << response.error().message;
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->content_type, "application/json");
  EXPECT_EQ(response->body, R"({"ok":true})");
  EXPECT_EQ(HeaderOf(*response, "x-weft"), "yes");
  EXPECT_EQ(HeaderOf(*response, "content-length"), "11");

  HttpRequest request = seen.get_future().get();
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, target);
  EXPECT_EQ(request.path, "/v1/jobs x");
  const std::map<std::string, std::string> query = {
      {"state", "PENDING"}, {"name", "a+b c&="}, {"flag", ""}, {"sp", "x y"}};
  EXPECT_EQ(request.query, query);
  EXPECT_EQ(request.Header("authorization"), "Bearer s3cret");
  EXPECT_EQ(request.Header("content-type"), "application/json");
  EXPECT_EQ(request.Header("host"), server->address());
  EXPECT_EQ(request.Header("x-missing"), "");
  EXPECT_EQ(request.body, R"({"a":1})");
  EXPECT_EQ(request.remote_address, "127.0.0.1");
}

TEST(HttpTest, GetWithoutTokenOrBodySendsNeither) {
  std::promise<HttpRequest> seen;
  auto server = MustStart([&](HttpRequest request, Responder respond) {
    seen.set_value(request);
    respond(Text("hi", 404));
  });
  ASSERT_TRUE(server);
  HttpClient client(UrlOf(*server), "");
  auto response = client.Get("/nothing");
  ASSERT_TRUE(response.has_value()) << response.error().message;
  EXPECT_EQ(response->status, 404);  // Any status is a successful Result.
  EXPECT_EQ(response->content_type, "text/plain");
  EXPECT_EQ(response->body, "hi");
  HttpRequest request = seen.get_future().get();
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.Header("authorization"), "");
  EXPECT_EQ(request.Header("content-type"), "");
  EXPECT_TRUE(request.body.empty());
  EXPECT_TRUE(request.query.empty());
}

TEST(HttpTest, LongPollIsAnsweredFromAnotherThreadWhileOthersAreServed) {
  std::promise<Responder> parked;
  auto server = MustStart(
      [&](HttpRequest request, Responder respond) {
        if (request.path == "/poll") {
          parked.set_value(std::move(respond));  // Answered later, from another thread.
        } else {
          respond(Text("fast"));
        }
      },
      /*threads=*/1);
  ASSERT_TRUE(server);
  const std::string url = UrlOf(*server);

  auto poll = std::async(std::launch::async, [&] { return HttpClient(url, "").Get("/poll"); });
  auto parked_future = parked.get_future();
  ASSERT_EQ(parked_future.wait_for(kWait), std::future_status::ready);
  Responder respond = parked_future.get();

  // The only I/O thread is free: another connection is served while the poll waits.
  HttpClient other(url, "");
  for (int i = 0; i < 3; ++i) {
    auto fast = other.Get("/fast");
    ASSERT_TRUE(fast.has_value()) << fast.error().message;
    EXPECT_EQ(fast->body, "fast");
  }
  EXPECT_EQ(poll.wait_for(0s), std::future_status::timeout);

  std::thread([respond] { respond(Text("late")); }).join();
  respond(Text("again"));  // A second call is ignored.
  ASSERT_EQ(poll.wait_for(kWait), std::future_status::ready);
  auto polled = poll.get();
  ASSERT_TRUE(polled.has_value()) << polled.error().message;
  EXPECT_EQ(polled->body, "late");
}

TEST(HttpTest, ClientReusesOneConnectionForManyRequests) {
  RawServer raw;
  auto served = std::async(std::launch::async, [&] { return raw.ServeOneConnection(); });
  {
    HttpClient client("http://127.0.0.1:" + std::to_string(raw.port()), "");
    for (int i = 0; i < 50; ++i) {
      auto response = client.Post("/x", "{}", 5s);
      ASSERT_TRUE(response.has_value()) << i << ": " << response.error().message;
      EXPECT_EQ(response->body, "ok");
    }
  }  // Closing the client ends the one connection.
  ASSERT_EQ(served.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(served.get(), 50);
}

TEST(HttpTest, ServerKeepsHttp11ConnectionsAliveAndClosesHttp10Ones) {
  auto server = MustStart([](HttpRequest request, Responder respond) {
    respond(Text("echo " + request.path));
  });
  ASSERT_TRUE(server);
  const int port = ParsePort(server->address());

  const int fd = ConnectRaw(port);
  std::string buffer;
  for (const char* path : {"/a", "/b", "/c"}) {
    SendAll(fd, "GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::optional<std::string> message = ReadMessage(fd, buffer);
    ASSERT_TRUE(message.has_value()) << path;
    EXPECT_TRUE(StartsWith(*message, "HTTP/1.1 200")) << *message;
    EXPECT_NE(message->find("echo " + std::string(path)), std::string::npos) << *message;
  }
  close(fd);

  const int fd10 = ConnectRaw(port);
  buffer.clear();
  SendAll(fd10, "GET /old HTTP/1.0\r\n\r\n");
  const std::optional<std::string> message = ReadMessage(fd10, buffer);
  ASSERT_TRUE(message.has_value());
  EXPECT_TRUE(StartsWith(*message, "HTTP/1.0 200")) << *message;
  EXPECT_FALSE(ReadMessage(fd10, buffer).has_value());  // Closed by the server.
  close(fd10);
}

TEST(HttpTest, ServerAnswersExpectContinueBeforeTheBodyArrives) {
  auto server = MustStart([](HttpRequest request, Responder respond) {
    respond(Text("got " + request.body));
  });
  ASSERT_TRUE(server);
  const int fd = ConnectRaw(ParsePort(server->address()));
  std::string buffer;
  SendAll(fd,
          "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  const std::optional<std::string> interim = ReadMessage(fd, buffer);
  ASSERT_TRUE(interim.has_value());
  EXPECT_TRUE(StartsWith(*interim, "HTTP/1.1 100 Continue")) << *interim;
  SendAll(fd, "hello");
  const std::optional<std::string> final_response = ReadMessage(fd, buffer);
  ASSERT_TRUE(final_response.has_value());
  EXPECT_TRUE(StartsWith(*final_response, "HTTP/1.1 200")) << *final_response;
  EXPECT_NE(final_response->find("got hello"), std::string::npos) << *final_response;
  close(fd);
}

TEST(HttpTest, ClientRetriesOnceWhenTheServerClosedTheIdleConnection) {
  std::atomic<int> calls{0};
  const Handler handler = [&](HttpRequest, Responder respond) {
    ++calls;
    respond(Text("hello"));
  };
  auto server = MustStart(handler);
  ASSERT_TRUE(server);
  const std::string address = server->address();
  HttpClient client("http://" + address, "");
  ASSERT_TRUE(client.Get("/one").has_value());

  // The server goes away and comes back on the same port: the kept-alive connection is dead
  // but the client does not know until it uses it.
  server->Stop();
  server.reset();
  server = MustStart(handler, 1, address);
  ASSERT_TRUE(server);

  auto response = client.Post("/two", "{}");
  ASSERT_TRUE(response.has_value()) << response.error().message;
  EXPECT_EQ(response->body, "hello");
  EXPECT_EQ(calls.load(), 2);
}

TEST(HttpTest, ConnectionCloseFromTheHandlerIsHonouredAndTheNextRequestReconnects) {
  std::atomic<int> calls{0};
  auto server = MustStart([&](HttpRequest, Responder respond) {
    HttpResponse response = Text("bye " + std::to_string(++calls));
    response.headers.emplace_back("Connection", "close");
    respond(std::move(response));
  });
  ASSERT_TRUE(server);
  HttpClient client(UrlOf(*server), "");
  for (int i = 1; i <= 3; ++i) {
    auto response = client.Get("/x");
    ASSERT_TRUE(response.has_value()) << response.error().message;
    EXPECT_EQ(response->body, "bye " + std::to_string(i));
    EXPECT_EQ(HeaderOf(*response, "connection"), "close");
  }
}

TEST(HttpTest, ConnectingToAClosedPortIsUnavailable) {
  auto server = MustStart([](HttpRequest, Responder respond) { respond(Text("")); });
  ASSERT_TRUE(server);
  const std::string url = UrlOf(*server);
  server.reset();  // The port is free now, and nothing listens on it.

  HttpClient client(url, "");
  auto response = client.Get("/x", 5s);
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(response.error().message.find(url), std::string::npos) << response.error().message;
}

TEST(HttpTest, SlowHandlerGivesDeadlineExceededAndLateRespondersAreNoOps) {
  std::mutex mu;
  std::vector<Responder> parked;
  auto server = MustStart([&](HttpRequest, Responder respond) {
    std::lock_guard lock(mu);
    parked.push_back(std::move(respond));
  });
  ASSERT_TRUE(server);
  HttpClient client(UrlOf(*server), "");
  const auto start = std::chrono::steady_clock::now();
  auto response = client.Get("/slow", 200ms);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code, ErrorCode::kDeadlineExceeded) << response.error().message;
  EXPECT_GE(elapsed, 200ms);
  EXPECT_LT(elapsed, 5s);

  // The connection timed out; answering it now does nothing, nor after the server stopped.
  std::vector<Responder> late;
  {
    std::lock_guard lock(mu);
    late = parked;
  }
  ASSERT_EQ(late.size(), 1u);
  late[0](Text("too late"));
  server->Stop();
  server->Stop();  // Idempotent.
  late[0](Text("even later"));
  server.reset();
  late[0](Text("after destruction"));
}

TEST(HttpTest, TenMegabyteBodiesRoundTrip) {
  auto server = MustStart([](HttpRequest request, Responder respond) {
    respond(Text(std::move(request.body)));
  });
  ASSERT_TRUE(server);
  std::string body(10 << 20, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
  HttpClient client(UrlOf(*server), "");
  auto response = client.Post("/echo", body);
  ASSERT_TRUE(response.has_value()) << response.error().message;
  EXPECT_EQ(response->body.size(), body.size());
  EXPECT_TRUE(response->body == body);
}

// A body over the server's limit (16 MiB) gets 413 with a message, not a dropped connection,
// both when the client sends it all first and when it waits for "100 Continue".
TEST(HttpTest, OversizedBodyGets413NamingTheLimit) {
  std::atomic<int> calls{0};
  auto server = MustStart([&](HttpRequest, Responder respond) {
    ++calls;
    respond(Text("ok"));
  });
  ASSERT_TRUE(server);
  HttpClient client(UrlOf(*server), "");
  auto response = client.Post("/v1/jobs", std::string((16 << 20) + 1, 'x'));
  ASSERT_TRUE(response.has_value()) << response.error().message;
  EXPECT_EQ(response->status, 413);
  EXPECT_NE(response->body.find("larger than the limit of 16 MiB"), std::string::npos) << response->body;

  const int fd = ConnectRaw(ParsePort(server->address()));
  std::string buffer;
  SendAll(fd, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\nExpect: 100-continue\r\n\r\n");
  const std::optional<std::string> rejected = ReadMessage(fd, buffer);
  ASSERT_TRUE(rejected.has_value());
  EXPECT_TRUE(StartsWith(*rejected, "HTTP/1.1 413")) << *rejected;
  close(fd);

  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(client.Post("/v1/jobs", "small")->status, 200);  // a new connection works
  EXPECT_EQ(ErrorCodeForStatus(413), ErrorCode::kInvalidArgument);
}

TEST(HttpTest, DroppedResponderClosesTheConnection) {
  auto server = MustStart([](HttpRequest request, Responder respond) {
    if (request.path == "/ok") respond(Text("ok"));
    // Otherwise the Responder is dropped unanswered.
  });
  ASSERT_TRUE(server);
  HttpClient client(UrlOf(*server), "");
  auto dropped = client.Get("/drop", 5s);
  ASSERT_FALSE(dropped.has_value());
  EXPECT_EQ(dropped.error().code, ErrorCode::kUnavailable);
  auto ok = client.Get("/ok", 5s);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->body, "ok");
}

TEST(HttpTest, ManyClientsOnSeveralIoThreads) {
  std::atomic<int> calls{0};
  auto server = MustStart(
      [&](HttpRequest request, Responder respond) {
        ++calls;
        respond(Text(request.body));
      },
      /*threads=*/3);
  ASSERT_TRUE(server);
  const std::string url = UrlOf(*server);
  std::vector<std::future<bool>> clients;
  for (int c = 0; c < 4; ++c) {
    clients.push_back(std::async(std::launch::async, [&url, c] {
      HttpClient client(url, "");
      for (int i = 0; i < 100; ++i) {
        const std::string body = std::to_string(c) + "/" + std::to_string(i);
        auto response = client.Post("/x", body);
        if (!response || response->body != body) return false;
      }
      return true;
    }));
  }
  for (auto& client : clients) EXPECT_TRUE(client.get());
  EXPECT_EQ(calls.load(), 400);
}

TEST(HttpTest, StopWhileClientsAreBusyEndsEveryConnection) {
  std::atomic<int> calls{0};
  std::promise<void> busy;
  auto server = MustStart(
      [&](HttpRequest request, Responder respond) {
        if (++calls == 200) busy.set_value();
        respond(Text(std::move(request.body)));
      },
      /*threads=*/2);
  ASSERT_TRUE(server);
  const std::string url = UrlOf(*server);
  std::vector<std::future<ErrorCode>> clients;
  for (int c = 0; c < 4; ++c) {
    clients.push_back(std::async(std::launch::async, [&url] {
      HttpClient client(url, "");
      while (true) {
        auto response = client.Post("/x", "{}", 5s);
        if (!response) return response.error().code;
      }
    }));
  }
  ASSERT_EQ(busy.get_future().wait_for(kWait), std::future_status::ready);
  server->Stop();
  for (auto& client : clients) {
    ASSERT_EQ(client.wait_for(kWait), std::future_status::ready);
    EXPECT_EQ(client.get(), ErrorCode::kUnavailable);
  }
}

TEST(HttpTest, UnbindableAndMalformedAddressesFail) {
  auto first = MustStart([](HttpRequest, Responder respond) { respond(Text("")); });
  ASSERT_TRUE(first);
  auto taken = StartHttpServer(first->address(), [](HttpRequest, Responder) {});
  ASSERT_FALSE(taken.has_value());
  EXPECT_EQ(taken.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(StartsWith(taken.error().message, "cannot listen on " + first->address() + ": "))
      << taken.error().message;

  auto foreign = StartHttpServer("192.0.2.1:0", [](HttpRequest, Responder) {});  // TEST-NET-1.
  ASSERT_FALSE(foreign.has_value());
  EXPECT_EQ(foreign.error().code, ErrorCode::kUnavailable);

  auto malformed = StartHttpServer("127.0.0.1", [](HttpRequest, Responder) {});
  ASSERT_FALSE(malformed.has_value());
  EXPECT_EQ(malformed.error().code, ErrorCode::kInvalidArgument);

  HttpClient bad_url("ftp://127.0.0.1:1", "");
  auto response = bad_url.Get("/x");
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(response.error().message, "bad base URL 'ftp://127.0.0.1:1': want http://host:port or https://host:port");
}

TEST(HttpTest, ListensOnIpv6Loopback) {
  auto server = StartHttpServer("[::1]:0", [](HttpRequest request, Responder respond) {
    respond(Text(request.remote_address));
  });
  if (!server.has_value()) GTEST_SKIP() << "no IPv6 loopback: " << server.error().message;
  EXPECT_TRUE(StartsWith((*server)->address(), "[::1]:")) << (*server)->address();
  HttpClient client("http://" + (*server)->address(), "");
  auto response = client.Get("/");
  ASSERT_TRUE(response.has_value()) << response.error().message;
  EXPECT_EQ(response->body, "::1");
}

// Throughput of small keep-alive POSTs from 4 client threads. Run with
// --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'.
TEST(HttpTest, DISABLED_Throughput) {
  for (const int threads : {1, 2}) {
    auto server = MustStart(
        [](HttpRequest, Responder respond) {
          HttpResponse response;
          response.body = R"({"ok":true})";
          respond(std::move(response));
        },
        threads);
    ASSERT_TRUE(server);
    const std::string url = UrlOf(*server);
    const std::string body(200, 'x');
    std::atomic<bool> stop{false};
    std::atomic<long> done{0};
    std::vector<std::thread> clients;
    const auto start = std::chrono::steady_clock::now();
    for (int c = 0; c < 4; ++c) {
      clients.emplace_back([&] {
        HttpClient client(url, "token");
        while (!stop) {
          auto response = client.Post("/v1/heartbeat", body);
          if (!response || response->status != 200) {
            ADD_FAILURE() << "request failed";
            return;
          }
          ++done;
        }
      });
    }
    std::this_thread::sleep_for(3s);  // Measurement window, not synchronisation.
    stop = true;
    for (auto& client : clients) client.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("server threads=%d: %ld requests in %.2f s = %.0f req/s\n", threads,
                done.load(), seconds, static_cast<double>(done.load()) / seconds);
  }
}

// ---- Graceful shutdown ----

TEST(HttpShutdownTest, FinishesRequestsInFlightClosesIdleConnectionsAndRefusesNewOnes) {
  std::promise<Responder> parked;
  auto server = MustStart([&](HttpRequest request, Responder respond) {
    if (request.path == "/slow") {
      parked.set_value(std::move(respond));
    } else {
      respond(Text("fast"));
    }
  });
  ASSERT_TRUE(server);
  const std::string url = UrlOf(*server);
  HttpClient idle(url, "");
  ASSERT_TRUE(idle.Get("/fast").has_value());  // a kept-alive connection, idle from now on

  auto slow = std::async(std::launch::async, [&] { return HttpClient(url, "").Get("/slow", kWait); });
  auto parked_future = parked.get_future();
  ASSERT_EQ(parked_future.wait_for(kWait), std::future_status::ready);
  Responder respond = parked_future.get();

  const auto started = std::chrono::steady_clock::now();
  auto unanswered = std::async(std::launch::async, [&] { return server->Shutdown(kWait); });
  // New connections are refused as soon as the shutdown begins.
  EXPECT_TRUE(PollUntilTrue([&] { return !HttpClient(url, "").Get("/fast", 1s).has_value(); }));
  EXPECT_EQ(unanswered.wait_for(0s), std::future_status::timeout);  // still waiting for /slow
  respond(Text("finished"));

  ASSERT_EQ(slow.wait_for(kWait), std::future_status::ready);
  auto answer = slow.get();
  ASSERT_TRUE(answer.has_value()) << answer.error().message;
  EXPECT_EQ(answer->body, "finished");
  EXPECT_EQ(HeaderOf(*answer, "connection"), "close");
  ASSERT_EQ(unanswered.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(unanswered.get(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, kWait);
  EXPECT_FALSE(idle.Get("/fast", 1s).has_value());  // the idle connection was closed
}

TEST(HttpShutdownTest, GivesUpOnRequestsStillUnansweredAfterTheGrace) {
  std::mutex mu;
  std::vector<Responder> never;  // answered by nobody
  std::promise<void> arrived;
  auto server = MustStart([&](HttpRequest, Responder respond) {
    std::lock_guard lock(mu);
    never.push_back(std::move(respond));
    arrived.set_value();
  });
  ASSERT_TRUE(server);
  const std::string url = UrlOf(*server);
  auto stuck = std::async(std::launch::async, [&] { return HttpClient(url, "").Get("/stuck", kWait); });
  ASSERT_EQ(arrived.get_future().wait_for(kWait), std::future_status::ready);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(server->Shutdown(300ms), 1);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, kWait);
  ASSERT_EQ(stuck.wait_for(kWait), std::future_status::ready);
  EXPECT_FALSE(stuck.get().has_value());  // its connection was closed unanswered
}

// ---- TLS ----

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/weft-tls-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    certs_ = testing::MakeTestCertificates(dir_);
    ASSERT_EQ(certs_.error, "") << "the tests need the openssl command (scripts/setup.sh installs it)";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<HttpServer> StartTls(Handler handler, const std::string& address = "127.0.0.1:0") {
    auto server = StartHttpServer(address, std::move(handler), 1, ServerTlsOptions{certs_.cert_file, certs_.key_file});
    EXPECT_TRUE(server.has_value()) << server.error().message;
    return server.has_value() ? std::move(*server) : nullptr;
  }
  static Handler Echo() {
    return [](HttpRequest request, Responder respond) {
      respond(Text(request.method + " " + request.target + " " + request.body + " from port " +
                   std::to_string(request.remote_port)));
    };
  }

  std::string dir_;
  testing::TestCertificates certs_;
};

TEST_F(TlsTest, KeepAliveAndLongPollsWorkWithTheRightCa) {
  std::promise<Responder> parked;
  auto server = StartTls([&](HttpRequest request, Responder respond) {
    if (request.path == "/poll") {
      parked.set_value(std::move(respond));
    } else {
      respond(Text("port " + std::to_string(request.remote_port) + " " + request.body));
    }
  });
  ASSERT_TRUE(server);
  EXPECT_EQ(server->scheme(), "https");
  const std::string url = "https://" + server->address();

  HttpClient client(url, "tok", ClientTlsOptions{certs_.ca_file});
  std::string first_port;
  for (int i = 0; i < 20; ++i) {
    auto response = client.Post("/x", "{\"i\":" + std::to_string(i) + "}");
    ASSERT_TRUE(response.has_value()) << i << ": " << response.error().message;
    const std::string port = response->body.substr(0, response->body.find(' ', 5));
    if (i == 0) first_port = port;
    EXPECT_EQ(port, first_port) << "request " << i << " came on another connection";
    EXPECT_NE(response->body.find("{\"i\":" + std::to_string(i) + "}"), std::string::npos);
  }

  // A long poll over TLS: answered later from another thread, while others are served.
  auto poll = std::async(std::launch::async, [&] {
    return HttpClient(url, "", ClientTlsOptions{certs_.ca_file}).Get("/poll?wait_ms=5000", kWait);
  });
  auto parked_future = parked.get_future();
  ASSERT_EQ(parked_future.wait_for(kWait), std::future_status::ready);
  ASSERT_TRUE(client.Get("/other").has_value());
  std::thread([respond = parked_future.get()] { respond(Text("polled")); }).join();
  ASSERT_EQ(poll.wait_for(kWait), std::future_status::ready);
  auto polled = poll.get();
  ASSERT_TRUE(polled.has_value()) << polled.error().message;
  EXPECT_EQ(polled->body, "polled");

  // By DNS name too (the certificate names localhost), and the CA from $WEFT_CA_FILE.
  ::setenv("WEFT_CA_FILE", certs_.ca_file.c_str(), 1);
  auto by_name = HttpClient("https://localhost:" + std::to_string(ParsePort(server->address())), "").Get("/n");
  ::unsetenv("WEFT_CA_FILE");
  ASSERT_TRUE(by_name.has_value()) << by_name.error().message;
}

TEST_F(TlsTest, AWrongCaIsOneClearSentence) {
  auto server = StartTls(Echo());
  ASSERT_TRUE(server);
  auto response = HttpClient("https://" + server->address(), "", ClientTlsOptions{certs_.other_ca_file}).Get("/");
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().message,
            "cannot verify the server's TLS certificate for 127.0.0.1: unable to get local issuer certificate");
  // The system's CAs do not know the test CA either.
  auto system = HttpClient("https://" + server->address(), "").Get("/");
  ASSERT_FALSE(system.has_value());
  EXPECT_TRUE(StartsWith(system.error().message, "cannot verify the server's TLS certificate for 127.0.0.1: "))
      << system.error().message;
}

TEST_F(TlsTest, TheCertificateMustNameTheHostDialled) {
  auto server = StartTls(Echo(), "0.0.0.0:0");
  ASSERT_TRUE(server);
  const std::string port = std::to_string(ParsePort(server->address()));
  auto response = HttpClient("https://127.0.0.2:" + port, "", ClientTlsOptions{certs_.ca_file}).Get("/");
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().message, "cannot verify the server's TLS certificate for 127.0.0.2: IP address mismatch");
  auto right = HttpClient("https://127.0.0.1:" + port, "", ClientTlsOptions{certs_.ca_file}).Get("/");
  EXPECT_TRUE(right.has_value()) << right.error().message;
}

TEST_F(TlsTest, PlainHttpAgainstTheTlsPortFailsAndTheServerCarriesOn) {
  auto server = StartTls(Echo());
  ASSERT_TRUE(server);
  auto plain = HttpClient("http://" + server->address(), "").Get("/", 5s);
  EXPECT_FALSE(plain.has_value() && plain->status == 200) << "plain HTTP was served over the TLS port";
  auto tls = HttpClient("https://" + server->address(), "", ClientTlsOptions{certs_.ca_file}).Get("/after");
  ASSERT_TRUE(tls.has_value()) << tls.error().message;
  EXPECT_TRUE(StartsWith(tls->body, "GET /after")) << tls->body;
}

TEST_F(TlsTest, HttpsAgainstAPlainServerFails) {
  auto server = MustStart([](HttpRequest, Responder respond) { respond(Text("plain")); });
  ASSERT_TRUE(server);
  auto response = HttpClient("https://" + server->address(), "", ClientTlsOptions{certs_.ca_file}).Get("/", 5s);
  ASSERT_FALSE(response.has_value());
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable);
}

TEST_F(TlsTest, UnreadableCertificateKeyOrCaFilesAreNamed) {
  auto no_cert = StartHttpServer("127.0.0.1:0", Echo(), 1, ServerTlsOptions{dir_ + "/missing.pem", certs_.key_file});
  ASSERT_FALSE(no_cert.has_value());
  EXPECT_TRUE(StartsWith(no_cert.error().message, "cannot load the TLS certificate '" + dir_ + "/missing.pem': "))
      << no_cert.error().message;
  auto wrong_key = StartHttpServer("127.0.0.1:0", Echo(), 1, ServerTlsOptions{certs_.cert_file, dir_ + "/ca.key"});
  ASSERT_FALSE(wrong_key.has_value());
  EXPECT_TRUE(StartsWith(wrong_key.error().message, "cannot load the TLS key '" + dir_ + "/ca.key': "))
      << wrong_key.error().message;  // OpenSSL: "key values mismatch"

  auto no_ca = HttpClient("https://127.0.0.1:1", "", ClientTlsOptions{dir_ + "/missing-ca.pem"}).Get("/");
  ASSERT_FALSE(no_ca.has_value());
  EXPECT_TRUE(StartsWith(no_ca.error().message, "cannot load the CA file '" + dir_ + "/missing-ca.pem': "))
      << no_ca.error().message;
}

TEST_F(TlsTest, GracefulShutdownWorksOverTls) {
  std::promise<Responder> parked;
  auto server = StartTls([&](HttpRequest, Responder respond) { parked.set_value(std::move(respond)); });
  ASSERT_TRUE(server);
  auto slow = std::async(std::launch::async, [&] {
    return HttpClient("https://" + server->address(), "", ClientTlsOptions{certs_.ca_file}).Get("/slow", kWait);
  });
  auto parked_future = parked.get_future();
  ASSERT_EQ(parked_future.wait_for(kWait), std::future_status::ready);
  auto unanswered = std::async(std::launch::async, [&] { return server->Shutdown(kWait); });
  parked_future.get()(Text("done"));
  ASSERT_EQ(slow.wait_for(kWait), std::future_status::ready);
  auto answer = slow.get();
  ASSERT_TRUE(answer.has_value()) << answer.error().message;
  EXPECT_EQ(answer->body, "done");
  EXPECT_EQ(unanswered.get(), 0);
}

}  // namespace
}  // namespace weft::net
