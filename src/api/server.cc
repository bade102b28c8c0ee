#include "api/server.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include <fmt/format.h>

#include "api/api_handler.h"
#include "api/auth.h"
#include "api/cluster_history.h"
#include "api/metrics_catalog.h"
#include "backend/slurm_backend.h"
#include "common/log.h"
#include "controller/controller.h"
#include "controller/persister.h"
#include "net/asio_event_loop.h"
#include "net/http.h"
#include "serve/service_manager.h"
#include "store/group_commit.h"
#include "store/sqlite_kv_store.h"
#include "store/state_repository.h"

namespace weft::api {
namespace {

Result<> WriteFileAtomically(const std::string& path, const std::string& content, mode_t mode) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Fail(ErrorCode::kUnavailable, fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  const bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
                  ::fchmod(fd, mode) == 0 && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return Fail(ErrorCode::kUnavailable, fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
  return {};
}


// Long polls (requests with wait_ms > 0: agents' assignment watches, `weft wait`) keep their
// Responder in the controller for up to minutes. A graceful stop answers them at once with 503
// instead of waiting for them (clients retry against the restarted server), and answers new
// ones at once too. Thread-safe; shared with the Responders it hands out, so it may outlive
// RunServer's frame.
class LongPolls : public std::enable_shared_from_this<LongPolls> {
 public:
  net::Handler Wrap(net::Handler inner) {
    return [self = shared_from_this(), inner = std::move(inner)](net::HttpRequest request, net::Responder respond) {
      const auto wait = request.query.find("wait_ms");
      if (wait == request.query.end() || wait->second.empty() || wait->second == "0") {
        return inner(std::move(request), std::move(respond));
      }
      std::uint64_t id = 0;
      {
        std::unique_lock lock(self->mu_);
        if (self->cut_) {
          lock.unlock();
          return respond(ShuttingDown());
        }
        id = self->next_id_++;
        self->open_.emplace(id, respond);
      }
      inner(std::move(request), [self, id, respond](net::HttpResponse response) {
        if (self->Take(id)) respond(std::move(response));
      });
    };
  }

  // Answers every open long poll with 503 now, and every later one at once.
  void CutAll() {
    std::unordered_map<std::uint64_t, net::Responder> open;
    {
      std::lock_guard lock(mu_);
      cut_ = true;
      open.swap(open_);
    }
    for (auto& [id, respond] : open) respond(ShuttingDown());
  }

 private:
  static net::HttpResponse ShuttingDown() {
    return ErrorResponse({ErrorCode::kUnavailable, "the server is shutting down; retry once it is back"});
  }
  // True the first time for `id`: the poll is still open and its answer goes out.
  bool Take(std::uint64_t id) {
    std::lock_guard lock(mu_);
    return open_.erase(id) == 1;
  }

  std::mutex mu_;
  bool cut_ = false;                                            // guarded by mu_
  std::uint64_t next_id_ = 0;                                   // guarded by mu_
  std::unordered_map<std::uint64_t, net::Responder> open_;      // guarded by mu_
};

}  // namespace

namespace {

// Reads the token in `path`, creating it with a fresh random token (mode 0600) when absent.
Result<std::string> LoadOrCreateTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (in) {
    std::string token;
    std::getline(in, token);
    if (!token.empty()) return token;
  }
  auto token = NewToken();
  if (!token) return token;
  if (auto w = WriteFileAtomically(path, *token + "\n", 0600); !w) return tl::unexpected(w.error());
  return token;
}

}  // namespace

Result<std::string> LoadOrCreateToken(const std::string& state_dir) {
  return LoadOrCreateTokenFile(state_dir + "/token");
}

Result<std::string> LoadOrCreateJoinToken(const std::string& state_dir) {
  return LoadOrCreateTokenFile(state_dir + "/join_token");
}

Result<> RunServer(const ServerOptions& options) {
  if (options.state_dir.empty()) return Fail(ErrorCode::kInvalidArgument, "--state-dir: required");
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("--state-dir: cannot create '{}': {}", options.state_dir, ec.message()));
  }
  ::chmod(options.state_dir.c_str(), 0700);

  // Block the stop signals in every thread (threads inherit the mask); sigwait takes them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto token = LoadOrCreateToken(options.state_dir);
  if (!token) return tl::unexpected(token.error());
  auto join_token = LoadOrCreateJoinToken(options.state_dir);
  if (!join_token) return tl::unexpected(join_token.error());
  auto store = store::SqliteKvStore::Open(options.state_dir + "/weft.db");
  if (!store) return tl::unexpected(store.error());
  auto state = store::LoadState(**store);
  if (!state) return tl::unexpected(state.error());
  auto services = serve::LoadServices(**store);  // inference services ("service/<name>")
  if (!services) return tl::unexpected(services.error());

  net::AsioEventLoop loop;
  store::GroupCommitter committer(**store);
  controller::GroupCommitPersister persister(committer, loop);
  controller::ControllerOptions controller_options;
  controller_options.config = options.config;
  controller_options.node_timeout = options.node_timeout;
  // One backend per slurm pool (its worker thread runs the Slurm commands); declared before
  // the controller, which drives them, so that they outlive it.
  std::vector<std::unique_ptr<backend::Backend>> backends;
  for (const model::PoolConfig& pool : options.config.pools) {
    if (pool.backend != "slurm") continue;
    auto slurm = backend::MakeSlurmPoolConfig(pool.name, pool.slurm);
    if (!slurm) return tl::unexpected(slurm.error());
    auto client = backend::MakeCommandSlurmClient(*slurm);
    backends.push_back(std::make_unique<backend::SlurmBackend>(
        loop, std::make_unique<backend::SlurmPool>(*slurm, std::move(client))));
    controller_options.backends[pool.name] = backends.back().get();
  }
  WeftMetrics metrics;  // GET /metrics; fed by the controller's observer hooks and the API
  controller_options.observer = &metrics;
  controller::Controller controller(loop, persister, controller_options);
  loop.Start();
  std::promise<void> restored;
  loop.Post([&] {
    controller.Restore(std::move(*state));
    restored.set_value();
  });
  restored.get_future().wait();
  ClusterHistory history;  // the dashboard's allocation chart; sampled on the loop thread
  loop.Post([&] { history.Start(loop, controller, options.history_interval); });

  std::string admin_user = options.admin_user;
  if (admin_user.empty()) {
    const passwd* pw = ::getpwuid(::geteuid());
    admin_user = pw ? pw->pw_name : "root";
  }
  Authenticator auth(*token, admin_user, *join_token);
  std::promise<void> users_loaded;
  loop.Post([&] {
    for (const auto& [name, user] : controller.Users()) auth.Put(user);
    users_loaded.set_value();
  });
  users_loaded.get_future().wait();
  // Inference services: their balancers listen on the server's host; decisions on the loop.
  serve::ServiceManagerOptions service_options;
  service_options.listen_host = options.listen.substr(0, options.listen.rfind(':'));
  if (service_options.listen_host.empty()) service_options.listen_host = "127.0.0.1";
  serve::ServiceManager service_manager(controller, loop, persister, service_options);
  std::promise<void> services_restored;
  loop.Post([&] {
    service_manager.Restore(std::move(*services));
    services_restored.set_value();
  });
  services_restored.get_future().wait();
  ApiHandler handler(controller, loop, auth, &metrics, &history);
  handler.SetServices(&service_manager);
  auto long_polls = std::make_shared<LongPolls>();
  auto server = net::StartHttpServer(
      options.listen,
      long_polls->Wrap([&handler](net::HttpRequest request, net::Responder respond) {
        handler.Handle(std::move(request), std::move(respond));
      }),
      options.http_threads, options.tls);
  if (!server) {
    loop.Stop();
    return tl::unexpected(server.error());
  }
  const std::string url = (*server)->scheme() + "://" + (*server)->address();
  if (auto w = WriteFileAtomically(options.state_dir + "/address", url + "\n", 0644); !w) {
    (*server)->Stop();
    loop.Stop();
    return w;
  }
  Log(LogLevel::kInfo, "weft server listening on {} (state in {})", url, options.state_dir);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  // Graceful stop: no new connections; long polls answered now; every other request already
  // received is answered (a submission only once durable) within the grace; then the rest of
  // the state is flushed below.
  Log(LogLevel::kInfo, "signal {}: stopping (finishing requests in flight for up to {} ms)", signal_number,
      std::chrono::duration_cast<std::chrono::milliseconds>(options.shutdown_grace).count());
  long_polls->CutAll();
  if (const int unanswered = (*server)->Shutdown(options.shutdown_grace); unanswered > 0) {
    Log(LogLevel::kWarn, "{} request(s) still unanswered after the shutdown grace: connections closed", unanswered);
  }
  std::promise<void> history_stopped;
  loop.Post([&] {
    service_manager.Stop();
    history.Stop(loop);
    history_stopped.set_value();
  });
  history_stopped.get_future().wait();
  loop.Stop();
  committer.Flush();  // everything submitted to the store, acknowledged or not, is durable
  std::filesystem::remove(options.state_dir + "/address", ec);
  Log(LogLevel::kInfo, "weft server stopped");
  return {};
}

}  // namespace weft::api
