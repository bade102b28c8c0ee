// HttpServer and HttpClient on Boost.Beast, over plain TCP or TLS (OpenSSL through Asio's ssl
// streams). This is the only translation unit that includes Beast (it is slow to compile):
// server, client and the URL helpers all live here.
#include "net/http.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>

#include "common/check.h"
#include "common/log.h"
#include "common/strings.h"

namespace weft::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

namespace {

// Largest request body the server accepts (job specs with their scripts, agent reports); a
// larger one is answered 413 (see Session::RejectTooLarge).
constexpr std::uint64_t kMaxRequestBodyBytes = 16ull << 20;
// After a 413 the server reads and discards what the client still sends, up to this much (so
// that the client, which writes its whole request before it reads, sees the answer rather
// than a reset connection), then closes.
constexpr std::uint64_t kMaxDrainBytes = 4 * kMaxRequestBodyBytes;
constexpr auto kDrainTimeout = std::chrono::seconds(10);
// Largest response body the client accepts (listings of many jobs).
constexpr std::uint64_t kMaxResponseBodyBytes = 512ull << 20;
// The server closes a connection idle this long; the client's retry covers the race.
constexpr auto kServerIdleTimeout = std::chrono::minutes(5);
// Writing one response to a client that does not read.
constexpr auto kServerWriteTimeout = std::chrono::minutes(1);
// A TLS client that connects but does not finish its handshake is dropped after this.
constexpr auto kServerHandshakeTimeout = std::chrono::seconds(30);

// The reason in an OpenSSL-backed error code, without Asio's "(SSL routines)" decoration.
std::string TlsReason(const beast::error_code& ec) {
  std::string text = ec.message();
  for (const std::string_view suffix : {" (SSL routines)", " (system library)"}) {
    if (text.size() > suffix.size() && std::string_view(text).substr(text.size() - suffix.size()) == suffix) {
      text.resize(text.size() - suffix.size());
    }
  }
  return text;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (a malformed escape stays as is); '+' becomes ' ' when `plus_is_space`.
std::string PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      const int hi = HexValue(s[i + 1]);
      const int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

// Splits "a=1&b=x%20y" into decoded pairs; a key without '=' maps to "", a repeated key
// keeps its last value.
void ParseQuery(std::string_view query, std::map<std::string, std::string>& out) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    std::string key = PercentDecode(item.substr(0, eq), true);
    std::string value =
        eq == std::string_view::npos ? std::string() : PercentDecode(item.substr(eq + 1), true);
    out.insert_or_assign(std::move(key), std::move(value));
  }
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct HostPort {
  std::string host;  // without brackets
  std::string port;
};

// Parses "host:port" or "[v6]:port". An empty port is an error unless `default_port` is set.
std::optional<HostPort> ParseHostPort(std::string_view s, std::string_view default_port = {}) {
  HostPort out;
  std::string_view port;
  if (StartsWith(s, "[")) {
    const size_t close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(s.substr(1, close - 1));
    const std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else {
    const size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) {
      out.host = std::string(s);
    } else {
      out.host = std::string(s.substr(0, colon));
      port = s.substr(colon + 1);
    }
  }
  if (port.empty()) port = default_port;
  const std::optional<long long> number = ParseInt(port);
  if (!number || *number < 0 || *number > 65535) return std::nullopt;
  out.port = std::string(port);
  return out;
}

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  const asio::ip::address address = endpoint.address();
  const std::string port = std::to_string(endpoint.port());
  if (address.is_v6()) return "[" + address.to_string() + "]:" + port;
  return address.to_string() + ":" + port;
}

// ---------------------------------------------------------------------------------------------
// Server

// What the server needs of a connection from outside its strand.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Any thread. Closes the connection on its strand.
  virtual void PostClose() = 0;
  // Any thread. Graceful stop: closes the connection now unless a request on it is in flight
  // (handed to the handler and not yet written); that one is closed once written.
  virtual void PostShutdown() = 0;
};

// Everything the I/O threads and outstanding Responders share. Owned by the server and by
// every Responder (so a late Responder never touches a destroyed io_context); Sessions hold a
// raw pointer, which is safe because a Session is destroyed before the state (a Responder
// holding one holds the state too, and queued handlers die with `ioc`).
struct ServerState {
  explicit ServerState(Handler h, int threads) : handler(std::move(h)), ioc(threads) {}

  Handler handler;
  std::atomic<bool> stopped{false};
  // Graceful stop under way: no new connections or requests; connections close once answered.
  std::atomic<bool> shutting_down{false};
  std::mutex mu;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;  // Guarded by mu.
  int in_flight = 0;  // requests handed to the handler and not yet written; guarded by mu
  std::condition_variable in_flight_done;  // notified when in_flight drops to 0
  // The TLS context (certificate and key) every session's stream uses; null: plain HTTP.
  std::unique_ptr<ssl::context> tls;
  // Declared after the members above: destroyed first, destroying queued handlers (and the
  // Sessions they own, which unregister from `sessions`).
  asio::io_context ioc;
  tcp::acceptor acceptor{asio::make_strand(ioc)};
  asio::steady_timer accept_backoff{acceptor.get_executor()};
};

// One accepted connection over `Stream` (beast::tcp_stream, or TlsStream whose handshake
// comes first). All members are touched only on the connection's strand. Reads one request,
// hands it to the handler, waits for the Responder, writes, and only then reads again.
template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using std::enable_shared_from_this<Session<Stream>>::shared_from_this;
  using std::enable_shared_from_this<Session<Stream>>::weak_from_this;

 public:
  // `stream_args`: the accepted socket, and for TLS the server's ssl::context.
  template <class... StreamArgs>
  Session(const std::shared_ptr<ServerState>& state, StreamArgs&&... stream_args)
      : state_owner_(state), state_(state.get()), stream_(std::forward<StreamArgs>(stream_args)...) {
    beast::error_code ec;
    const tcp::endpoint peer = Tcp().socket().remote_endpoint(ec);
    if (!ec) {
      remote_address_ = peer.address().to_string();
      remote_port_ = peer.port();
    }
  }

  ~Session() override {
    std::lock_guard lock(state_->mu);
    state_->sessions.erase(this);
    SetInFlightLocked(false);
  }

  // Registers with the server (unless it is stopping) and starts reading (after the TLS
  // handshake, for TLS).
  void Start() {
    {
      std::lock_guard lock(state_->mu);
      // Dropping the last reference closes the socket.
      if (state_->stopped.load() || state_->shutting_down.load()) return;
      state_->sessions.emplace(this, weak_from_this());
    }
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if constexpr (kTls) {
        self->DoHandshake();
      } else {
        self->DoRead();
      }
    });
  }

  void PostClose() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->Close(); });
  }

  void PostShutdown() override {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->in_flight_) self->Close();
    });
  }

  // Any thread. Writes `response` as the answer to request number `seq` on the strand.
  void PostRespond(std::uint64_t seq, HttpResponse response) {
    asio::dispatch(stream_.get_executor(),
                   [self = shared_from_this(), seq, r = std::move(response)]() mutable {
                     self->Respond(seq, std::move(r));
                   });
  }

 private:
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  // Counts this connection's request in or out of ServerState::in_flight (what a graceful
  // stop waits for). Strand, or the destructor, with state_->mu held.
  void SetInFlightLocked(bool in_flight) {
    if (in_flight_ == in_flight) return;
    in_flight_ = in_flight;
    state_->in_flight += in_flight ? 1 : -1;
    if (state_->in_flight == 0) state_->in_flight_done.notify_all();
  }
  void SetInFlight(bool in_flight) {
    std::lock_guard lock(state_->mu);
    SetInFlightLocked(in_flight);
  }

  void DoHandshake() {
    Tcp().expires_after(kServerHandshakeTimeout);
    stream_.async_handshake(ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
      if (ec) {
        // A plain-HTTP client, a client that rejects our certificate, a port scanner.
        Log(LogLevel::kDebug, "http: TLS handshake with {} failed: {}", self->remote_address_, TlsReason(ec));
        self->Close();
        return;
      }
      self->DoRead();
    });
  }

  void DoRead() {
    if (state_->shutting_down.load()) {
      Close();
      return;
    }
    parser_.emplace();
    parser_->body_limit(kMaxRequestBodyBytes);
    Tcp().expires_after(kServerIdleTimeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnReadHeader, shared_from_this()));
  }

  void OnReadHeader(beast::error_code ec, std::size_t bytes) {
    if (ec || parser_->is_done()) {
      OnRead(ec, bytes);
      return;
    }
    // Clients such as curl wait for "100 Continue" before they send a large body.
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](beast::error_code write_ec, std::size_t) {
                          if (write_ec) {
                            self->Close();
                          } else {
                            self->ReadBody();
                          }
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec == http::error::body_limit) {
      RejectTooLarge();
      return;
    }
    if (ec) {
      if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
          ec != ssl::error::stream_truncated) {
        Log(LogLevel::kDebug, "http: read from {} failed: {}", remote_address_, ec.message());
      }
      Close();
      return;
    }
    // A long poll may take longer than any timeout: the timer must not run while we wait.
    Tcp().expires_never();

    http::request<http::string_body>& msg = parser_->get();
    HttpRequest request;
    request.method = std::string(msg.method_string());
    const std::string_view target(msg.target().data(), msg.target().size());
    request.target = std::string(target);
    const size_t question = target.find('?');
    request.path = PercentDecode(target.substr(0, question), false);
    if (question != std::string_view::npos) ParseQuery(target.substr(question + 1), request.query);
    for (const auto& field : msg) {
      const beast::string_view name = field.name_string();
      const beast::string_view value = field.value();
      auto [it, inserted] = request.headers.try_emplace(
          ToLower(std::string_view(name.data(), name.size())), value.data(), value.size());
      if (!inserted) {
        it->second += ", ";
        it->second.append(value.data(), value.size());
      }
    }
    request.body = std::move(msg.body());
    request.remote_address = remote_address_;
    request.remote_port = remote_port_;
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    parser_.reset();

    const std::uint64_t seq = ++seq_;
    awaiting_response_ = true;
    SetInFlight(true);
    try {
      state_->handler(std::move(request), MakeResponder(seq));
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "http: handler threw: {}", e.what());
      HttpResponse error;
      error.status = 500;
      error.body = R"({"error":"internal error"})";
      Respond(seq, std::move(error));
    }
  }

  // The request's body (by its Content-Length, or as it arrived chunked) passed the limit:
  // answer 413 with a message saying so, instead of silently dropping the connection, then
  // drain and close.
  void RejectTooLarge() {
    Log(LogLevel::kInfo, "http: request body from {} is over {} bytes: 413", remote_address_,
        kMaxRequestBodyBytes);
    version_ = parser_ && parser_->get().version() != 0 ? parser_->get().version() : 11;
    parser_.reset();
    keep_alive_ = false;
    draining_ = true;
    const std::uint64_t seq = ++seq_;
    awaiting_response_ = true;
    SetInFlight(true);
    HttpResponse response;
    response.status = 413;
    response.body = fmt::format(
        R"({{"error":{{"code":"InvalidArgument","message":"request body is larger than the limit of {} MiB"}}}})",
        kMaxRequestBodyBytes >> 20);
    response.headers.emplace_back("Connection", "close");
    Respond(seq, std::move(response));
  }

  // Reads and discards the rest of a rejected request (see kMaxDrainBytes), then closes.
  void Drain() {
    Tcp().expires_after(kDrainTimeout);
    stream_.async_read_some(
        asio::buffer(drain_buffer_),
        [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
          self->drained_ += bytes;
          if (ec || self->drained_ > kMaxDrainBytes) {
            self->Close();
            return;
          }
          self->Drain();
        });
  }

  Responder MakeResponder(std::uint64_t seq) {
    // The Responder keeps the state (io_context) and the session alive until it is called or
    // dropped; dropping it unanswered closes the connection.
    struct Impl {
      std::shared_ptr<ServerState> state;
      std::shared_ptr<Session> session;
      std::uint64_t seq;
      void operator()(HttpResponse response) const {
        if (!state || state->stopped.load(std::memory_order_acquire)) return;
        session->PostRespond(seq, std::move(response));
      }
    };
    return Impl{state_owner_.lock(), shared_from_this(), seq};
  }

  void Respond(std::uint64_t seq, HttpResponse response) {
    if (!awaiting_response_ || seq != seq_) return;  // Second call of a Responder.
    awaiting_response_ = false;
    if (!Tcp().socket().is_open()) {  // Closed by Stop() meanwhile.
      SetInFlight(false);
      return;
    }

    response_ = http::response<http::string_body>();
    response_.version(version_);
    const int status = response.status >= 100 && response.status <= 999 ? response.status : 500;
    response_.result(static_cast<unsigned>(status));
    if (!response.content_type.empty()) {
      response_.set(http::field::content_type, response.content_type);
    }
    for (const auto& [name, value] : response.headers) response_.insert(name, value);
    // The handler may ask to close with "Connection: close"; a stopping server closes too.
    keep_alive_ = keep_alive_ && response_.keep_alive() && !state_->shutting_down.load();
    response_.keep_alive(keep_alive_);
    response_.body() = std::move(response.body);
    response_.prepare_payload();

    Tcp().expires_after(kServerWriteTimeout);
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t /*bytes*/) {
    response_.body().clear();
    response_.body().shrink_to_fit();
    SetInFlight(false);
    if (ec) {
      Log(LogLevel::kDebug, "http: write to {} failed: {}", remote_address_, ec.message());
      Close();
      return;
    }
    if (draining_ && !state_->stopped.load() && !state_->shutting_down.load()) {
      beast::error_code ignored;
      Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);  // the 413 is complete
      Drain();
      return;
    }
    if (!keep_alive_ || state_->stopped.load() || state_->shutting_down.load()) {
      Close();
      return;
    }
    DoRead();
  }

  // Closes the TCP connection (for TLS without close_notify: every request on it was answered
  // or is abandoned, and HTTP framing tells the client where each response ends).
  void Close() {
    SetInFlight(false);
    beast::error_code ec;
    Tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
    Tcp().close();
  }

 private:
  const std::weak_ptr<ServerState> state_owner_;  // For Responders; see MakeResponder().
  ServerState* const state_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  std::string remote_address_;
  int remote_port_ = 0;
  std::uint64_t seq_ = 0;
  bool awaiting_response_ = false;
  bool draining_ = false;  // after a 413: discarding the rest of the request
  std::uint64_t drained_ = 0;
  std::array<char, 64 * 1024> drain_buffer_{};
  bool keep_alive_ = false;
  unsigned version_ = 11;
  bool in_flight_ = false;  // counted in state_->in_flight; see SetInFlightLocked
};

class BeastHttpServer final : public HttpServer {
 public:
  BeastHttpServer(std::shared_ptr<ServerState> state, std::string address)
      : state_(std::move(state)), address_(std::move(address)) {}
  ~BeastHttpServer() override { Stop(); }

  std::string address() const override { return address_; }
  std::string scheme() const override { return state_->tls ? "https" : "http"; }

  int Shutdown(Duration grace) override {
    WEFT_CHECK(!state_->ioc.get_executor().running_in_this_thread());
    const auto deadline = std::chrono::steady_clock::now() + grace;
    std::vector<std::shared_ptr<SessionBase>> sessions;
    {
      std::lock_guard lock(state_->mu);
      if (state_->stopped.load() || state_->shutting_down.exchange(true)) return 0;
      for (auto& [ptr, weak] : state_->sessions) {
        if (auto session = weak.lock()) sessions.push_back(std::move(session));
      }
    }
    // Once the acceptor and the idle connections are closed, a request waiting for its
    // Responder is no I/O work: keep the threads running to write its answer.
    {
      std::lock_guard stop_lock(stop_mu_);
      shutdown_work_.emplace(state_->ioc.get_executor());
    }
    asio::post(state_->acceptor.get_executor(), [state = state_.get()] {
      beast::error_code ec;
      state->acceptor.close(ec);
      state->accept_backoff.cancel();
    });
    for (auto& session : sessions) session->PostShutdown();
    sessions.clear();
    int unanswered = 0;
    {
      std::unique_lock lock(state_->mu);
      state_->in_flight_done.wait_until(lock, deadline, [&] { return state_->in_flight == 0; });
      unanswered = state_->in_flight;
    }
    Stop();
    return unanswered;
  }

  void StartThreads(int threads) {
    DoAccept(state_);
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([state = state_.get()] { state->ioc.run(); });
    }
  }

  // Not from an I/O thread (a handler): it joins them.
  void Stop() override {
    std::lock_guard stop_lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    WEFT_CHECK(!state_->ioc.get_executor().running_in_this_thread());
    std::vector<std::shared_ptr<SessionBase>> sessions;
    {
      std::lock_guard lock(state_->mu);
      state_->stopped.store(true, std::memory_order_release);
      for (auto& [ptr, weak] : state_->sessions) {
        if (auto session = weak.lock()) sessions.push_back(std::move(session));
      }
    }
    asio::post(state_->acceptor.get_executor(), [state = state_.get()] {
      beast::error_code ec;
      state->acceptor.close(ec);
      state->accept_backoff.cancel();
    });
    for (auto& session : sessions) session->PostClose();
    sessions.clear();
    shutdown_work_.reset();
    // With the acceptor and every socket closed the io_context runs out of work.
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
  }

 private:
  static void DoAccept(const std::shared_ptr<ServerState>& owner) {
    ServerState* state = owner.get();
    state->acceptor.async_accept(
        asio::make_strand(state->ioc),
        [state, weak = std::weak_ptr<ServerState>(owner)](beast::error_code ec,
                                                           tcp::socket socket) {
          if (ec == asio::error::operation_aborted || !state->acceptor.is_open()) return;
          std::shared_ptr<ServerState> alive = weak.lock();
          if (!alive) return;
          if (ec) {
            // Typically EMFILE: back off briefly instead of spinning.
            Log(LogLevel::kWarn, "http: accept failed: {}", ec.message());
            state->accept_backoff.expires_after(std::chrono::milliseconds(50));
            state->accept_backoff.async_wait([weak](beast::error_code wait_ec) {
              if (wait_ec) return;
              if (std::shared_ptr<ServerState> retry = weak.lock()) DoAccept(retry);
            });
            return;
          }
          beast::error_code option_ec;
          socket.set_option(tcp::no_delay(true), option_ec);
          if (state->tls) {
            std::make_shared<Session<TlsStream>>(alive, std::move(socket), *state->tls)->Start();
          } else {
            std::make_shared<Session<beast::tcp_stream>>(alive, std::move(socket))->Start();
          }
          DoAccept(alive);
        });
  }

  std::shared_ptr<ServerState> state_;
  const std::string address_;
  std::mutex stop_mu_;
  bool stopped_ = false;  // Guarded by stop_mu_.
  // Held from Shutdown() until Stop(); guarded by stop_mu_.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> shutdown_work_;
  std::vector<std::thread> threads_;
};

// The server's TLS context: TLS 1.2 or later with `tls`'s certificate chain and key, which
// must match.
Result<std::unique_ptr<ssl::context>> MakeServerTlsContext(const ServerTlsOptions& tls) {
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "TLS needs both a certificate file and a key file");
  }
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  beast::error_code ec;
  context->use_certificate_chain_file(tls.cert_file, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("cannot load the TLS certificate '{}': {}", tls.cert_file, TlsReason(ec)));
  }
  context->use_private_key_file(tls.key_file, ssl::context::pem, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("cannot load the TLS key '{}': {}", tls.key_file, TlsReason(ec)));
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("the TLS key '{}' does not match the certificate '{}'",
                                                         tls.key_file, tls.cert_file));
  }
  return context;
}

// ---------------------------------------------------------------------------------------------
// Client helpers

// Runs the io_context until the operation started just before completes.
void RunUntilIdle(asio::io_context& ioc) {
  ioc.restart();
  ioc.run();
}

long long Millis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

std::string HttpRequest::Header(std::string_view lower_name) const {
  const auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? std::string() : it->second;
}

std::string UrlEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

Result<std::unique_ptr<HttpServer>> StartHttpServer(const std::string& listen_address,
                                                    Handler handler, int threads,
                                                    const ServerTlsOptions& tls) {
  WEFT_CHECK(threads >= 1);
  const std::optional<HostPort> host_port = ParseHostPort(listen_address);
  if (!host_port) {
    return Fail(ErrorCode::kInvalidArgument,
                "bad listen address '" + listen_address + "': want host:port or [v6]:port");
  }
  auto state = std::make_shared<ServerState>(std::move(handler), threads);
  if (tls.enabled()) {
    auto context = MakeServerTlsContext(tls);
    if (!context) return tl::unexpected(context.error());
    state->tls = std::move(*context);
  }
  const auto fail = [&](const beast::error_code& ec) {
    return Fail(ErrorCode::kUnavailable,
                "cannot listen on " + listen_address + ": " + ec.message());
  };
  beast::error_code ec;
  tcp::resolver resolver(state->ioc);
  const std::string host = host_port->host.empty() ? "0.0.0.0" : host_port->host;
  const auto results = resolver.resolve(host, host_port->port, tcp::resolver::passive, ec);
  if (ec) return fail(ec);
  if (results.empty()) return fail(asio::error::host_not_found);
  const tcp::endpoint endpoint = results.begin()->endpoint();

  tcp::acceptor& acceptor = state->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(ec);
  const tcp::endpoint bound = acceptor.local_endpoint(ec);
  if (ec) return fail(ec);

  auto server = std::make_unique<BeastHttpServer>(state, FormatEndpoint(bound));
  server->StartThreads(threads);
  Log(LogLevel::kDebug, "http: serving on {} with {} thread(s)", server->address(), threads);
  return server;
}

// ---------------------------------------------------------------------------------------------
// Client

// The client's socket and its private io_context, run on the calling thread for each
// operation; for https a TLS stream over it, made afresh for every connection. `setup_error`
// is set when the base URL did not parse or the CA file did not load.
class HttpClient::Connection {
 public:
  asio::io_context ioc{1};
  std::unique_ptr<ssl::context> tls;       // https only: verifies the server
  std::optional<beast::tcp_stream> plain;  // http
  std::optional<TlsStream> secure;         // https
  beast::flat_buffer buffer;
  std::optional<tcp::resolver::results_type> endpoints;
  bool connected = false;
  std::string setup_error;

  beast::tcp_stream& Tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  // Calls `f` with the stream HTTP messages go through.
  template <class F>
  void WithStream(F&& f) {
    if (secure) {
      f(*secure);
    } else {
      f(*plain);
    }
  }
  // A fresh, unconnected stream (a TLS stream cannot be reused once closed).
  void NewStream() {
    if (tls) {
      secure.emplace(ioc, *tls);
    } else {
      plain.emplace(ioc);
    }
  }
  void Reset() {
    beast::error_code ec;
    Tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
    Tcp().close();
    NewStream();
    buffer.clear();
    connected = false;
  }
};

HttpClient::HttpClient(std::string base_url, std::string token, ClientTlsOptions tls)
    : base_url_(std::move(base_url)),
      token_(std::move(token)),
      connection_(std::make_unique<Connection>()) {
  Connection& conn = *connection_;
  std::string_view rest = base_url_;
  const std::string want = "bad base URL '" + base_url_ + "': want http://host:port or https://host:port";
  if (StartsWith(rest, "https://")) {
    https_ = true;
    rest.remove_prefix(8);
  } else if (StartsWith(rest, "http://")) {
    rest.remove_prefix(7);
  } else {
    conn.setup_error = want;
    conn.NewStream();
    return;
  }
  rest = rest.substr(0, rest.find('/'));
  const std::optional<HostPort> host_port = ParseHostPort(rest, https_ ? "443" : "80");
  if (!host_port || host_port->host.empty()) {
    conn.setup_error = want;
    conn.NewStream();
    return;
  }
  host_ = host_port->host;
  port_ = host_port->port;
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  if (https_) {
    ca_file_ = std::move(tls.ca_file);
    if (ca_file_.empty()) {
      if (const char* env = std::getenv("WEFT_CA_FILE"); env && *env) ca_file_ = env;
    }
    conn.tls = std::make_unique<ssl::context>(ssl::context::tls_client);
    conn.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                          ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    conn.tls->set_verify_mode(ssl::verify_peer);
    beast::error_code ec;
    if (ca_file_.empty()) {
      conn.tls->set_default_verify_paths(ec);
    } else {
      conn.tls->load_verify_file(ca_file_, ec);
    }
    if (ec) {
      conn.setup_error = ca_file_.empty()
                             ? "cannot load the system's CA certificates: " + TlsReason(ec)
                             : "cannot load the CA file '" + ca_file_ + "': " + TlsReason(ec);
    }
  }
  conn.NewStream();
}

HttpClient::~HttpClient() = default;

Result<> HttpClient::Handshake(std::chrono::steady_clock::time_point deadline) {
  Connection& conn = *connection_;
  SSL* ssl = conn.secure->native_handle();
  // The certificate must name the host we dialled: an IP address SAN for an address, else a
  // DNS name (sent as SNI too).
  beast::error_code ip_ec;
  asio::ip::make_address(host_, ip_ec);
  const bool named = ip_ec.failed();
  const bool host_set = named ? SSL_set_tlsext_host_name(ssl, host_.c_str()) == 1 && SSL_set1_host(ssl, host_.c_str()) == 1
                              : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host_.c_str()) == 1;
  if (!host_set) {
    return Fail(ErrorCode::kInvalidArgument, "cannot verify the server's TLS certificate for " + host_ +
                                                 ": the host name cannot be checked");
  }
  beast::error_code ec;
  conn.Tcp().expires_at(deadline);
  conn.secure->async_handshake(ssl::stream_base::client, [&ec](beast::error_code e) { ec = e; });
  RunUntilIdle(conn.ioc);
  if (!ec) return {};
  if (ec == beast::error::timeout) return Fail(ErrorCode::kDeadlineExceeded, "TLS handshake timed out");
  if (const long verify = SSL_get_verify_result(ssl); verify != X509_V_OK) {
    // Not transient: retrying will not make the certificate verify.
    return Fail(ErrorCode::kFailedPrecondition, "cannot verify the server's TLS certificate for " + host_ + ": " +
                                                    X509_verify_cert_error_string(verify));
  }
  return Fail(ErrorCode::kUnavailable, "TLS handshake with " + base_url_ + " failed: " + TlsReason(ec));
}

Result<HttpResponse> HttpClient::Request(std::string_view method, std::string_view target,
                                         std::string_view body, Duration timeout) {
  Connection& conn = *connection_;
  if (!conn.setup_error.empty()) return Fail(ErrorCode::kInvalidArgument, conn.setup_error);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string url = base_url_ + std::string(target);
  const auto timed_out = [&] {
    return Fail(ErrorCode::kDeadlineExceeded,
                std::string(method) + " " + url + " timed out after " +
                    std::to_string(Millis(timeout)) + " ms");
  };

  http::request<http::string_body> request;
  const http::verb verb = http::string_to_verb(beast::string_view(method.data(), method.size()));
  if (verb == http::verb::unknown) {
    request.method_string(beast::string_view(method.data(), method.size()));
  } else {
    request.method(verb);
  }
  request.target(beast::string_view(target.data(), target.size()));
  request.version(11);
  const bool default_port = port_ == (https_ ? "443" : "80");
  const bool v6 = host_.find(':') != std::string::npos;
  std::string host_header = v6 ? "[" + host_ + "]" : host_;
  if (!default_port) host_header += ":" + port_;
  request.set(http::field::host, host_header);
  if (!token_.empty()) request.set(http::field::authorization, "Bearer " + token_);
  if (!body.empty()) {
    request.set(http::field::content_type, "application/json");
    request.body().assign(body.data(), body.size());
  }
  request.keep_alive(true);
  request.prepare_payload();

  for (int attempt = 0;; ++attempt) {
    const bool reused = conn.connected;
    if (!conn.connected) {
      beast::error_code ec;
      if (!conn.endpoints) {
        tcp::resolver resolver(conn.ioc);
        auto results = resolver.resolve(host_, port_, ec);
        if (ec) {
          return Fail(ErrorCode::kUnavailable,
                      "cannot resolve " + base_url_ + ": " + ec.message());
        }
        conn.endpoints = std::move(results);
      }
      conn.Tcp().expires_at(deadline);
      conn.Tcp().async_connect(*conn.endpoints,
                               [&ec](beast::error_code e, const tcp::endpoint&) { ec = e; });
      RunUntilIdle(conn.ioc);
      if (ec) {
        conn.Reset();
        if (ec == beast::error::timeout) return timed_out();
        return Fail(ErrorCode::kUnavailable,
                    "cannot connect to " + base_url_ + ": " + ec.message());
      }
      beast::error_code option_ec;
      conn.Tcp().socket().set_option(tcp::no_delay(true), option_ec);
      if (conn.secure) {
        if (auto handshake = Handshake(deadline); !handshake) {
          conn.Reset();
          if (handshake.error().code == ErrorCode::kDeadlineExceeded) return timed_out();
          return tl::unexpected(handshake.error());
        }
      }
      conn.connected = true;
    }

    // A request on a reused connection that fails before any byte of the response arrived
    // most likely met a connection the server had closed as idle: retry once.
    const auto may_retry = [&](const beast::error_code& ec) {
      return reused && attempt == 0 && ec != beast::error::timeout;
    };

    beast::error_code ec;
    conn.Tcp().expires_at(deadline);
    conn.WithStream([&](auto& stream) {
      http::async_write(stream, request, [&ec](beast::error_code e, std::size_t) { ec = e; });
    });
    RunUntilIdle(conn.ioc);
    if (ec) {
      conn.Reset();
      if (may_retry(ec)) continue;
      if (ec == beast::error::timeout) return timed_out();
      return Fail(ErrorCode::kUnavailable,
                  std::string(method) + " " + url + " failed: " + ec.message());
    }

    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBodyBytes);
    if (verb == http::verb::head) parser.skip(true);
    conn.Tcp().expires_at(deadline);
    conn.WithStream([&](auto& stream) {
      http::async_read(stream, conn.buffer, parser, [&ec](beast::error_code e, std::size_t) { ec = e; });
    });
    RunUntilIdle(conn.ioc);
    if (ec) {
      const bool got_some = parser.got_some();
      conn.Reset();
      if (!got_some && may_retry(ec)) continue;
      if (ec == beast::error::timeout) return timed_out();
      return Fail(ErrorCode::kUnavailable,
                  std::string(method) + " " + url + " failed: " + ec.message());
    }
    conn.Tcp().expires_never();

    http::response<http::string_body> message = parser.release();
    HttpResponse response;
    response.status = static_cast<int>(message.result_int());
    const beast::string_view content_type = message[http::field::content_type];
    response.content_type.assign(content_type.data(), content_type.size());
    // Every response header, names lower-cased as on the server side, in arrival order.
    for (const auto& field : message) {
      const beast::string_view name = field.name_string();
      const beast::string_view value = field.value();
      response.headers.emplace_back(ToLower(std::string_view(name.data(), name.size())),
                                    std::string(value.data(), value.size()));
    }
    response.body = std::move(message.body());
    if (!message.keep_alive()) conn.Reset();
    return response;
  }
}

}  // namespace weft::net
