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
#include <sstream>

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


}  // namespace

Result<std::string> LoadOrCreateToken(const std::string& state_dir) {
  const std::string path = state_dir + "/token";
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
  auto store = store::SqliteKvStore::Open(options.state_dir + "/weft.db");
  if (!store) return tl::unexpected(store.error());
  auto state = store::LoadState(**store);
  if (!state) return tl::unexpected(state.error());

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
  Authenticator auth(*token, admin_user);
  std::promise<void> users_loaded;
  loop.Post([&] {
    for (const auto& [name, user] : controller.Users()) auth.Put(user);
    users_loaded.set_value();
  });
  users_loaded.get_future().wait();
  ApiHandler handler(controller, loop, auth, &metrics, &history);
  auto server = net::StartHttpServer(
      options.listen,
      [&handler](net::HttpRequest request, net::Responder respond) {
        handler.Handle(std::move(request), std::move(respond));
      },
      options.http_threads);
  if (!server) {
    loop.Stop();
    return tl::unexpected(server.error());
  }
  const std::string url = "http://" + (*server)->address();
  if (auto w = WriteFileAtomically(options.state_dir + "/address", url + "\n", 0644); !w) {
    (*server)->Stop();
    loop.Stop();
    return w;
  }
  Log(LogLevel::kInfo, "weft server listening on {} (state in {})", url, options.state_dir);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  Log(LogLevel::kInfo, "signal {}: stopping", signal_number);
  (*server)->Stop();
  std::promise<void> history_stopped;
  loop.Post([&] {
    history.Stop(loop);
    history_stopped.set_value();
  });
  history_stopped.get_future().wait();
  loop.Stop();
  committer.Flush();
  std::filesystem::remove(options.state_dir + "/address", ec);
  return {};
}

}  // namespace weft::api
