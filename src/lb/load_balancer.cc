// LoadBalancer on Boost.Asio/Beast with C++20 coroutines. The only translation unit of
// src/lb that includes Asio or Beast (each such unit is slow to compile): workers, the
// acceptor and the proxy sessions all live here.
#include "lb/load_balancer.h"

// g++ 12 flags Asio's recycling coroutine-frame allocator (operator new of chunks, a matching
// sized operator delete) as mismatched where it inlines both into a coroutine: a known false
// positive (GCC bug 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <algorithm>
#include <array>
#include <atomic>
#include <future>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "common/log.h"
#include "lb/picker.h"

namespace weft::lb {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using boost::system::error_code;
using SteadyTime = std::chrono::steady_clock::time_point;

namespace {

// Relay buffer per session: one read from upstream is forwarded in pieces of at most this.
constexpr std::size_t kRelayBufferBytes = 16 * 1024;
// How often a request held for a ready replica (scale from zero) looks again.
constexpr auto kHoldPollInterval = std::chrono::milliseconds(10);

auto Ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

// Removes the hop-by-hop headers (RFC 9110 7.6.1) and those the Connection header names.
// Transfer-Encoding stays on responses: it frames the relayed body.
template <class Fields>
void StripHopByHop(Fields& fields, bool strip_transfer_encoding) {
  const auto connection = fields.find(http::field::connection);
  if (connection != fields.end()) {
    std::vector<std::string> named;
    for (const auto& token : http::token_list(connection->value())) {
      named.emplace_back(token);
    }
    for (const std::string& name : named) fields.erase(name);
  }
  fields.erase(http::field::connection);
  fields.erase(http::field::keep_alive);
  fields.erase(http::field::proxy_connection);
  fields.erase(http::field::te);
  fields.erase(http::field::trailer);
  fields.erase(http::field::upgrade);
  if (strip_transfer_encoding) fields.erase(http::field::transfer_encoding);
}

bool IsUpstreamClosed(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// State shared by the workers and the control methods.

class Worker;

class LoadBalancer::State {
 public:
  explicit State(LoadBalancerOptions o)
      : options(std::move(o)),
        clock(options.clock != nullptr ? options.clock : &system_clock),
        total(options.stats_window) {}

  const LoadBalancerOptions options;
  const SystemClock system_clock;
  const Clock* const clock;

  std::vector<std::unique_ptr<Worker>> workers;
  std::unique_ptr<tcp::acceptor> acceptor;  // runs on workers[0]; touched by the accept loop
  std::size_t next_worker = 0;              // accept loop only
  std::vector<std::thread> threads;
  int port = 0;
  std::atomic<bool> stopped{false};

  mutable std::mutex mu;
  std::shared_ptr<const BackendSet> set;  // Guarded by mu.
  std::uint64_t next_serial = 1;          // Guarded by mu.
  std::atomic<std::uint64_t> set_version{0};  // bumped under mu with every new `set`

  std::atomic<std::int64_t> hold_us{0};
  std::atomic<std::int64_t> total_in_flight{0};
  TrafficStats total;

  awaitable<void> AcceptLoop();
};

// One worker thread: its io_context, picker, cached backend snapshot and idle upstream
// connections. Everything but `ioc` is touched only on the worker's thread.
class Worker {
 public:
  Worker(LoadBalancer::State& s, std::unique_ptr<Picker> p)
      : ioc(1), work(asio::make_work_guard(ioc)), state(s), picker(std::move(p)) {}

  asio::io_context ioc;  // first member: destroyed last, after the pooled sockets
  asio::executor_work_guard<asio::io_context::executor_type> work;
  LoadBalancer::State& state;
  std::unique_ptr<Picker> picker;

  // The backends a ready replica is picked from; `excluded` are serials already tried.
  std::shared_ptr<BackendEntry> Pick(const std::vector<std::uint64_t>& excluded) {
    const BackendSet& current = Snapshot();
    loads_.resize(current.entries.size());
    for (std::size_t i = 0; i < current.entries.size(); ++i) {
      const BackendEntry& e = *current.entries[i];
      const bool is_excluded =
          std::find(excluded.begin(), excluded.end(), e.serial) != excluded.end();
      loads_[i] = {e.ready.load(std::memory_order_relaxed) && !is_excluded,
                   e.in_flight.load(std::memory_order_relaxed)};
    }
    const std::optional<std::size_t> i = picker->Pick(loads_);
    return i ? current.entries[*i] : nullptr;
  }

  // Moves an idle connection to `entry` into `socket`; false when there is none. One the
  // replica closed meanwhile shows as Outcome::kStale (no peek here: it would cost a syscall
  // on every request, a fifth of the proxy's).
  bool TakeIdle(const BackendEntry& entry, tcp::socket& socket) {
    const auto it = idle_.find(entry.serial);
    if (it == idle_.end() || it->second.empty()) return false;
    socket = std::move(it->second.back());
    it->second.pop_back();
    return true;
  }

  // Closes every idle connection to `entry`: one was found stale, the others likely are.
  void DropIdle(const BackendEntry& entry) { idle_.erase(entry.serial); }

  void GiveIdle(const BackendEntry& entry, tcp::socket socket) {
    Snapshot();  // drops pools of removed backends first
    if (IsListed(entry.serial)) {
      std::vector<tcp::socket>& pool = idle_[entry.serial];
      if (static_cast<int>(pool.size()) < state.options.max_idle_upstream_per_backend) {
        pool.push_back(std::move(socket));
        return;
      }
    }
    error_code ignored;
    socket.close(ignored);
  }

  void ClearIdle() { idle_.clear(); }

 private:
  const BackendSet& Snapshot() {
    if (state.set_version.load(std::memory_order_acquire) != version_ || !set_) {
      std::lock_guard lock(state.mu);
      set_ = state.set;
      version_ = state.set_version.load(std::memory_order_relaxed);
      for (auto it = idle_.begin(); it != idle_.end();) {
        it = IsListed(it->first) ? std::next(it) : idle_.erase(it);
      }
    }
    return *set_;
  }

  bool IsListed(std::uint64_t serial) const {
    for (const auto& e : set_->entries) {
      if (e->serial == serial) return true;
    }
    return false;
  }

  std::shared_ptr<const BackendSet> set_;
  std::uint64_t version_ = 0;
  std::vector<EndpointLoad> loads_;  // scratch for Pick
  std::unordered_map<std::uint64_t, std::vector<tcp::socket>> idle_;  // by entry serial
};

// ---------------------------------------------------------------------------------------------
// One client connection: reads requests one after another and proxies each.

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Worker& w, tcp::socket client)
      : w_(w),
        options_(w.state.options),
        client_(std::move(client)),
        upstream_(w.ioc),
        watchdog_(w.ioc),
        hold_timer_(w.ioc) {}

  awaitable<void> Run(std::shared_ptr<Session> self);

 private:
  // What the session waits for, which decides what a missed deadline closes.
  enum class Phase {
    kClientRead,   // the next request (client_idle_timeout): closes the client
    kConnecting,   // an upstream connect (connect_timeout): fails this attempt only
    kUpstream,     // the replica (upstream_timeout): closes the upstream; 504 if nothing sent
    kClientWrite,  // the client taking a response (client_idle_timeout): closes both
  };
  // How one attempt on one backend ended.
  enum class Outcome {
    kRelayed,         // the response went to the client
    kRetry,           // connecting failed, nothing was sent: another backend may take it
    kStale,           // a kept-alive connection the replica had closed: retry on a fresh one
    kFailedUpstream,  // 502 or 504 sent (upstream failed before the response started)
    kBrokenClient,    // the client connection cannot go on (response cut, or client gone)
  };

  awaitable<bool> Proxy(http::request<http::string_body>& req);
  awaitable<Outcome> Exchange(BackendEntry& entry, const http::request<http::string_body>& req,
                              unsigned client_version, bool& client_keep_alive, int& status);
  awaitable<bool> SendError(http::status status, std::string body, unsigned version,
                            bool keep_alive);
  // 504 when the watchdog cut the attempt, else 502; sets `status`.
  awaitable<Outcome> SendUpstreamFailure(const BackendEntry& entry, std::string_view when,
                                         const error_code& ec, unsigned client_version,
                                         bool client_keep_alive, int& status);

  void SetDeadline(Duration d);
  void ArmWatchdog();
  void OnWatchdog();
  void Finish() {
    done_ = true;
    watchdog_.cancel();
    hold_timer_.cancel();
  }

  Worker& w_;
  const LoadBalancerOptions& options_;
  tcp::socket client_;
  tcp::socket upstream_;  // the connection of the attempt in progress
  asio::steady_timer watchdog_;
  asio::steady_timer hold_timer_;
  SteadyTime deadline_ = SteadyTime::max();
  SteadyTime armed_ = SteadyTime::max();
  Phase phase_ = Phase::kClientRead;
  bool upstream_timed_out_ = false;  // the watchdog closed `upstream_` in this attempt
  bool done_ = false;
  beast::flat_buffer client_buffer_;
  beast::flat_buffer upstream_buffer_;
  std::array<char, kRelayBufferBytes> relay_;
};

// The watchdog is one timer per session. Moving the deadline later costs a store; only an
// earlier deadline than the armed one (a connect timeout) re-arms the timer.
void Session::SetDeadline(Duration d) {
  deadline_ = std::chrono::steady_clock::now() + d;
  if (deadline_ < armed_) watchdog_.cancel();  // OnWatchdog re-arms with the new deadline
}

void Session::ArmWatchdog() {
  armed_ = deadline_;
  watchdog_.expires_at(armed_);
  watchdog_.async_wait([self = shared_from_this()](error_code) { self->OnWatchdog(); });
}

void Session::OnWatchdog() {
  if (done_) return;
  if (std::chrono::steady_clock::now() >= deadline_) {
    error_code ignored;
    upstream_.close(ignored);
    if (phase_ == Phase::kConnecting || phase_ == Phase::kUpstream) {
      upstream_timed_out_ = true;
    } else {
      client_.close(ignored);
    }
    deadline_ = SteadyTime::max();
  }
  ArmWatchdog();
}

awaitable<void> Session::Run(std::shared_ptr<Session> self) {
  error_code ec;
  client_.set_option(tcp::no_delay(true), ec);
  SetDeadline(options_.client_idle_timeout);
  ArmWatchdog();
  for (;;) {
    phase_ = Phase::kClientRead;
    SetDeadline(options_.client_idle_timeout);
    http::request_parser<http::string_body> parser;
    parser.body_limit(options_.max_request_body_bytes);
    co_await http::async_read_header(client_, client_buffer_, parser, Ec(ec));
    if (!ec && !parser.is_done()) {
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await asio::async_write(client_, asio::buffer(kContinue), Ec(ec));
      }
      if (!ec) co_await http::async_read(client_, client_buffer_, parser, Ec(ec));
    }
    if (ec == http::error::body_limit) {
      co_await SendError(http::status::payload_too_large, "request body too large", 11, false);
      break;
    }
    if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      co_await SendError(http::status::bad_request, "malformed HTTP request", 11, false);
      break;
    }
    if (ec) break;  // the client closed, or idled past the timeout
    http::request<http::string_body> req = parser.release();
    if (!co_await Proxy(req)) break;
  }
  client_.shutdown(tcp::socket::shutdown_send, ec);
  client_.close(ec);
  Finish();
  (void)self;
}

awaitable<bool> Session::SendError(http::status status, std::string body, unsigned version,
                                   bool keep_alive) {
  http::response<http::string_body> res{status, version};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(body);
  res.body() += '\n';
  res.keep_alive(keep_alive);
  res.prepare_payload();
  phase_ = Phase::kClientWrite;
  SetDeadline(options_.client_idle_timeout);
  error_code ec;
  co_await http::async_write(client_, res, Ec(ec));
  co_return !ec && keep_alive;
}

awaitable<Session::Outcome> Session::SendUpstreamFailure(const BackendEntry& entry,
                                                         std::string_view when,
                                                         const error_code& ec,
                                                         unsigned client_version,
                                                         bool client_keep_alive, int& status) {
  const bool timed_out = upstream_timed_out_;
  status = timed_out ? 504 : 502;
  const std::string body =
      "replica " + entry.backend.id + " of service " + options_.service_name +
      (timed_out ? " timed out " : " failed ") + std::string(when) +
      (timed_out ? "" : ": " + ec.message());
  const bool sent = co_await SendError(
      timed_out ? http::status::gateway_timeout : http::status::bad_gateway, body,
      client_version, client_keep_alive);
  co_return sent ? Outcome::kFailedUpstream : Outcome::kBrokenClient;
}

// Proxies one request; returns whether the client connection stays open.
awaitable<bool> Session::Proxy(http::request<http::string_body>& req) {
  LoadBalancer::State& state = w_.state;
  const TimePoint started = state.clock->Now();
  const unsigned client_version = req.version();
  bool client_keep_alive = req.keep_alive();
  StripHopByHop(req.base(), /*strip_transfer_encoding=*/true);
  req.erase(http::field::expect);  // the body is here already: no 100 Continue upstream
  req.version(11);
  req.keep_alive(true);
  req.prepare_payload();  // the body is whole: Content-Length replaces any chunking

  state.total_in_flight.fetch_add(1, std::memory_order_relaxed);
  std::vector<std::uint64_t> tried;
  bool keep = false;
  int status = 0;
  bool is_error = true;
  bool stale_retried = false;
  for (int attempt = 0;; ++attempt) {
    std::shared_ptr<BackendEntry> entry = w_.Pick(tried);
    if (!entry && tried.empty()) {
      const std::int64_t hold_us = state.hold_us.load(std::memory_order_relaxed);
      const SteadyTime hold_until = std::chrono::steady_clock::now() + Duration(hold_us);
      SetDeadline(Duration(hold_us) + options_.client_idle_timeout);
      while (!entry && std::chrono::steady_clock::now() < hold_until && !done_) {
        hold_timer_.expires_after(kHoldPollInterval);
        error_code ec;
        co_await hold_timer_.async_wait(Ec(ec));
        entry = w_.Pick(tried);
      }
    }
    if (!entry) {
      if (tried.empty()) {
        status = 503;
        keep = co_await SendError(http::status::service_unavailable,
                                  "no ready replica for service " + options_.service_name,
                                  client_version, client_keep_alive);
      } else {
        status = 502;
        keep = co_await SendError(
            http::status::bad_gateway,
            "no replica of service " + options_.service_name + " could be reached (" +
                std::to_string(tried.size()) + " tried)",
            client_version, client_keep_alive);
      }
      break;
    }
    const TimePoint attempt_started = state.clock->Now();
    entry->in_flight.fetch_add(1, std::memory_order_relaxed);
    bool attempt_keep = client_keep_alive;
    status = 0;
    const Outcome outcome =
        co_await Exchange(*entry, req, client_version, attempt_keep, status);
    entry->in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (outcome == Outcome::kStale && !stale_retried) {
      // Not the replica's fault and not an attempt: its idle connections timed out.
      stale_retried = true;
      --attempt;
      continue;
    }
    const TimePoint attempt_ended = state.clock->Now();
    const bool attempt_error = outcome != Outcome::kRelayed || status >= 500;
    entry->stats.Record(attempt_ended, attempt_ended - attempt_started, attempt_error);
    const bool may_retry = outcome == Outcome::kRetry || outcome == Outcome::kStale;
    if (may_retry && attempt + 1 < options_.max_attempts) {
      if (outcome == Outcome::kRetry) tried.push_back(entry->serial);
      continue;
    }
    if (may_retry) {
      status = 502;
      keep = co_await SendError(http::status::bad_gateway,
                                "replica " + entry->backend.id + " of service " +
                                    options_.service_name + " could not be reached",
                                client_version, client_keep_alive);
      break;
    }
    keep = (outcome == Outcome::kRelayed || outcome == Outcome::kFailedUpstream) && attempt_keep;
    is_error = attempt_error;
    break;
  }
  if (status >= 500) is_error = true;
  state.total_in_flight.fetch_sub(1, std::memory_order_relaxed);
  const TimePoint ended = state.clock->Now();
  state.total.Record(ended, ended - started, is_error);
  co_return keep;
}

// One attempt on `entry`. Sets `status` to the upstream's (or the 502 sent) and
// `client_keep_alive` to false when the client connection must close after the response.
awaitable<Session::Outcome> Session::Exchange(BackendEntry& entry,
                                              const http::request<http::string_body>& req,
                                              unsigned client_version, bool& client_keep_alive,
                                              int& status) {
  error_code ec;
  upstream_timed_out_ = false;
  const bool pooled = w_.TakeIdle(entry, upstream_);
  if (!pooled) {
    phase_ = Phase::kConnecting;
    SetDeadline(options_.connect_timeout);
    upstream_ = tcp::socket(w_.ioc);
    const tcp::endpoint endpoint(asio::ip::make_address(entry.ip, ec),
                                 static_cast<unsigned short>(entry.backend.port));
    if (!ec) co_await upstream_.async_connect(endpoint, Ec(ec));
    if (ec) {
      Log(LogLevel::kDebug, "lb: connect to replica {} ({}:{}) failed: {}", entry.backend.id,
          entry.ip, entry.backend.port, ec.message());
      upstream_.close(ec);
      co_return Outcome::kRetry;
    }
    upstream_.set_option(tcp::no_delay(true), ec);
  }
  phase_ = Phase::kUpstream;
  SetDeadline(options_.upstream_timeout);
  upstream_buffer_.clear();
  co_await http::async_write(upstream_, req, Ec(ec));
  if (ec) {
    upstream_.close(ec);
    if (pooled) {
      w_.DropIdle(entry);
      co_return Outcome::kStale;
    }
    co_return co_await SendUpstreamFailure(entry, "sending the request", ec, client_version,
                                           client_keep_alive, status);
  }

  http::response_parser<http::buffer_body> parser;
  // No limit. Not boost::none: Beast 1.74 compares a Content-Length against an empty limit
  // as "exceeded".
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (req.method() == http::verb::head) parser.skip(true);
  co_await http::async_read_header(upstream_, upstream_buffer_, parser, Ec(ec));
  if (ec) {
    const bool nothing_came = upstream_buffer_.size() == 0 && IsUpstreamClosed(ec);
    error_code ignored;
    upstream_.close(ignored);
    // A pooled connection closed by the replica while idle: the request was not taken.
    if (pooled && nothing_came) {
      w_.DropIdle(entry);
      co_return Outcome::kStale;
    }
    co_return co_await SendUpstreamFailure(entry, "before responding", ec, client_version,
                                           client_keep_alive, status);
  }

  http::response<http::buffer_body>& res = parser.get();
  status = static_cast<int>(res.result_int());
  const bool upstream_keep_alive = parser.keep_alive();
  StripHopByHop(res.base(), /*strip_transfer_encoding=*/false);
  // A body delimited by the connection's close: chunk it for HTTP/1.1 clients; an HTTP/1.0
  // client gets it close-delimited too (and a chunked one un-chunked).
  const bool close_delimited = !parser.is_done() && !parser.chunked() &&
                               !parser.content_length().has_value();
  if (client_version < 11 && (parser.chunked() || close_delimited)) {
    res.chunked(false);
    client_keep_alive = false;
  } else if (close_delimited) {
    res.chunked(true);
  }
  res.version(client_version);
  res.keep_alive(client_keep_alive);

  http::response_serializer<http::buffer_body> serializer{res};
  bool started = false;
  // Headers alone go out at once when no body byte is waiting (a stream's first token may
  // take a while); otherwise header and first body bytes share one write.
  if (!parser.is_done() && upstream_buffer_.size() == 0) {
    phase_ = Phase::kClientWrite;
    SetDeadline(options_.client_idle_timeout);
    co_await http::async_write_header(client_, serializer, Ec(ec));
    if (ec) {
      upstream_.close(ec);
      co_return Outcome::kBrokenClient;
    }
    started = true;
  }
  do {
    if (!parser.is_done()) {
      res.body().data = relay_.data();
      res.body().size = relay_.size();
      phase_ = Phase::kUpstream;
      SetDeadline(options_.upstream_timeout);
      co_await http::async_read_some(upstream_, upstream_buffer_, parser, Ec(ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        Log(LogLevel::kDebug, "lb: replica {} failed mid-response: {}", entry.backend.id,
            ec.message());
        error_code ignored;
        upstream_.close(ignored);
        if (started) {
          status = upstream_timed_out_ ? 504 : 502;
          co_return Outcome::kBrokenClient;  // the client sees a cut response
        }
        co_return co_await SendUpstreamFailure(entry, "mid-response", ec, client_version,
                                               client_keep_alive, status);
      }
      res.body().size = relay_.size() - res.body().size;
      res.body().data = relay_.data();
      res.body().more = !parser.is_done();
      // Only framing was parsed (a chunk header): nothing to relay, and an empty piece would
      // go out as the terminating zero-size chunk.
      if (res.body().size == 0 && res.body().more) continue;
    } else {
      res.body().data = nullptr;
      res.body().size = 0;
      res.body().more = false;
    }
    phase_ = Phase::kClientWrite;
    SetDeadline(options_.client_idle_timeout);
    co_await http::async_write(client_, serializer, Ec(ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      upstream_.close(ec);
      co_return Outcome::kBrokenClient;
    }
    started = true;
  } while (!parser.is_done() && !serializer.is_done());

  if (upstream_keep_alive && upstream_buffer_.size() == 0) {
    w_.GiveIdle(entry, std::move(upstream_));
  } else {
    upstream_.close(ec);
  }
  co_return Outcome::kRelayed;
}

awaitable<void> LoadBalancer::State::AcceptLoop() {
  for (;;) {
    Worker& w = *workers[next_worker++ % workers.size()];
    error_code ec;
    tcp::socket socket = co_await acceptor->async_accept(w.ioc, Ec(ec));
    if (stopped.load() || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of file descriptors and the like: back off instead of spinning.
      Log(LogLevel::kWarn, "lb: accept failed: {}", ec.message());
      asio::steady_timer pause(acceptor->get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(Ec(ec));
      continue;
    }
    auto session = std::make_shared<Session>(w, std::move(socket));
    asio::co_spawn(w.ioc, session->Run(session), asio::detached);
  }
}

// ---------------------------------------------------------------------------------------------
// LoadBalancer

Result<std::unique_ptr<LoadBalancer>> LoadBalancer::Start(LoadBalancerOptions options) {
  if (options.workers < 1 || options.workers > 1024) {
    return Fail(ErrorCode::kInvalidArgument,
                "workers: " + std::to_string(options.workers) + " is outside 1..1024");
  }
  if (options.max_attempts < 1) {
    return Fail(ErrorCode::kInvalidArgument, "max_attempts: must be at least 1");
  }
  if (options.port < 0 || options.port > 65535) {
    return Fail(ErrorCode::kInvalidArgument,
                "port: " + std::to_string(options.port) + " is outside 0..65535");
  }
  auto state = std::make_unique<State>(std::move(options));
  const LoadBalancerOptions& o = state->options;
  for (int i = 0; i < o.workers; ++i) {
    Result<std::unique_ptr<Picker>> picker = MakePicker(o.picker, o.seed + i);
    if (!picker) return tl::unexpected(picker.error());
    state->workers.push_back(std::make_unique<Worker>(*state, std::move(*picker)));
  }
  state->set = std::make_shared<BackendSet>();

  error_code ec;
  const asio::ip::address address = asio::ip::make_address(o.listen_host, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalidArgument,
                "listen_host: \"" + o.listen_host + "\" is not an IP address");
  }
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(o.port));
  auto acceptor = std::make_unique<tcp::acceptor>(state->workers[0]->ioc);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Fail(ErrorCode::kUnavailable, "load balancer cannot listen on " + o.listen_host +
                                             ":" + std::to_string(o.port) + ": " +
                                             ec.message());
  }
  state->port = acceptor->local_endpoint().port();
  state->acceptor = std::move(acceptor);
  asio::co_spawn(state->workers[0]->ioc, state->AcceptLoop(), asio::detached);
  for (auto& worker : state->workers) {
    state->threads.emplace_back([w = worker.get()] { w->ioc.run(); });
  }
  return std::unique_ptr<LoadBalancer>(new LoadBalancer(std::move(state)));
}

LoadBalancer::LoadBalancer(std::unique_ptr<State> state) : state_(std::move(state)) {}

LoadBalancer::~LoadBalancer() { Stop(); }

int LoadBalancer::port() const { return state_->port; }

std::string LoadBalancer::address() const {
  const std::string& host = state_->options.listen_host;
  const std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return shown + ":" + std::to_string(state_->port);
}

Result<> LoadBalancer::SetBackends(const std::vector<Backend>& backends) {
  std::lock_guard lock(state_->mu);
  Result<std::shared_ptr<const BackendSet>> merged = MergeBackends(
      *state_->set, backends, state_->next_serial, state_->options.stats_window);
  if (!merged) return tl::unexpected(merged.error());
  state_->set = std::move(*merged);
  state_->set_version.fetch_add(1, std::memory_order_release);
  return {};
}

Result<> LoadBalancer::SetReady(std::string_view id, bool ready) {
  std::lock_guard lock(state_->mu);
  for (const auto& e : state_->set->entries) {
    if (e->backend.id == id) {
      e->ready.store(ready);
      return {};
    }
  }
  return Fail(ErrorCode::kNotFound, "backend \"" + std::string(id) + "\" not found");
}

Result<> LoadBalancer::SetPicker(const std::string& picker) {
  std::vector<std::unique_ptr<Picker>> pickers;
  for (std::size_t i = 0; i < state_->workers.size(); ++i) {
    Result<std::unique_ptr<Picker>> made = MakePicker(picker, state_->options.seed + i);
    if (!made) return tl::unexpected(made.error());
    pickers.push_back(std::move(*made));
  }
  // Each worker swaps its own on its thread (the picker is touched only there).
  std::vector<std::future<void>> swapped;
  for (std::size_t i = 0; i < state_->workers.size(); ++i) {
    auto done = std::make_shared<std::promise<void>>();
    swapped.push_back(done->get_future());
    Worker* worker = state_->workers[i].get();
    asio::post(worker->ioc, [worker, next = std::move(pickers[i]), done]() mutable {
      worker->picker = std::move(next);
      done->set_value();
    });
  }
  for (auto& f : swapped) f.wait();
  return {};
}

void LoadBalancer::SetHoldWhenEmpty(Duration hold) {
  state_->hold_us.store(std::max<std::int64_t>(0, hold.count()));
}

LbStats LoadBalancer::Stats() const {
  std::shared_ptr<const BackendSet> set;
  {
    std::lock_guard lock(state_->mu);
    set = state_->set;
  }
  const TimePoint now = state_->clock->Now();
  LbStats out;
  out.total = state_->total.Summarize(now);
  out.total.in_flight = state_->total_in_flight.load();
  for (const auto& e : set->entries) {
    BackendStats b;
    b.id = e->backend.id;
    b.ready = e->ready.load();
    b.traffic = e->stats.Summarize(now);
    b.traffic.in_flight = e->in_flight.load();
    out.backends.push_back(std::move(b));
  }
  return out;
}

void LoadBalancer::Stop() {
  if (state_->stopped.exchange(true)) return;
  for (auto& w : state_->workers) {
    w->work.reset();
    w->ioc.stop();
  }
  for (std::thread& t : state_->threads) t.join();
  state_->threads.clear();
  // Sockets go before their io_context; destroying an io_context destroys the sessions
  // (coroutine frames) still suspended on it.
  state_->acceptor.reset();
  for (auto& w : state_->workers) w->ClearIdle();
  state_->workers.clear();
}

}  // namespace weft::lb
