#include "agent/agent.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "agent/child_reaper.h"
#include "agent/task_supervisor.h"
#include "common/log.h"
#include "net/asio_event_loop.h"

namespace weft::agent {
namespace {

constexpr Duration kWatchWait = std::chrono::seconds(10);  // long-poll wait sent to the server
constexpr Duration kMinBackoff = std::chrono::milliseconds(50);
constexpr Duration kMaxBackoff = std::chrono::seconds(2);
// How long Stop() waits for a thread to leave a controller call before leaving it behind.
constexpr Duration kStopGrace = std::chrono::milliseconds(200);

// Posts to the loop while the agent lives; a no-op once closed. Lets a thread that outlives
// the agent (stuck in a controller call) finish harmlessly. Thread-safe.
class LoopGate {
 public:
  explicit LoopGate(EventLoop* loop) : loop_(loop) {}
  void Post(Task task) {
    std::lock_guard lock(mu_);
    if (loop_ != nullptr) loop_->Post(std::move(task));
  }
  void Close() {
    std::lock_guard lock(mu_);
    loop_ = nullptr;
  }

 private:
  std::mutex mu_;
  EventLoop* loop_;
};

// What a controller thread shares with the agent: a stop flag and, for the reporter, the
// latest report to send (a newer one replaces an unsent one: reports coalesce).
struct WorkerState {
  std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;
  std::optional<model::NodeReport> latest;  // reporter only

  // Waits `delay` unless stopping; returns false when stopping.
  bool SleepFor(Duration delay) {
    std::unique_lock lock(mu);
    return !wake.wait_for(lock, delay, [&] { return stopping; });
  }
  bool Stopping() {
    std::lock_guard lock(mu);
    return stopping;
  }
};

// A thread that may outlive its owner: its body holds shared ownership of all it touches.
class Worker {
 public:
  template <class F>
  void Start(F body) {
    auto done = std::make_shared<std::promise<void>>();
    finished_ = done->get_future();
    thread_ = std::thread([body = std::move(body), done]() mutable {
      body();
      done->set_value();
    });
  }
  // Joins when the body ends within `grace`; otherwise detaches it and returns false.
  bool StopWithin(Duration grace) {
    if (!thread_.joinable()) return true;
    if (finished_.wait_for(grace) == std::future_status::ready) {
      thread_.join();
      return true;
    }
    thread_.detach();
    return false;
  }

 private:
  std::thread thread_;
  std::future<void> finished_;
};

// Logs the first failure of a run and the recovery, not every retry.
class FailureLog {
 public:
  explicit FailureLog(std::string what) : what_(std::move(what)) {}
  void Failed(const Error& error) {
    if (!std::exchange(failing_, true)) {
      Log(LogLevel::kWarn, "{}: {}; retrying", what_, error.message);
    }
  }
  void Succeeded() {
    if (std::exchange(failing_, false))
      Log(LogLevel::kInfo, "{}: controller reachable again", what_);
  }

 private:
  std::string what_;
  bool failing_ = false;
};

// When the controller last heard from this agent: steady-clock nanoseconds, written by the
// reporter thread and read by the loop's fencing check.
using ContactTime = std::atomic<std::int64_t>;
std::int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Reporter thread: sends the latest report, then has the loop forget the exits it carried.
void RunReporter(std::shared_ptr<ControllerClient> client, std::shared_ptr<WorkerState> state,
                 std::shared_ptr<LoopGate> gate, TaskSupervisor* supervisor,
                 std::shared_ptr<ContactTime> contact) {
  FailureLog failures("cannot report to the controller");
  Duration backoff = kMinBackoff;
  for (;;) {
    model::NodeReport report;
    {
      std::unique_lock lock(state->mu);
      state->wake.wait(lock, [&] { return state->stopping || state->latest.has_value(); });
      if (state->stopping) return;
      report = std::move(*state->latest);
      state->latest.reset();
    }
    const std::int64_t sent = SteadyNowNs();
    Result<std::int64_t> version = client->Report(report);
    if (version) {
      contact->store(sent);  // it heard us no earlier than this
      failures.Succeeded();
      backoff = kMinBackoff;
      std::vector<model::TaskKey> exited;
      for (const model::TaskReport& task : report.tasks) {
        if (task.exit) exited.push_back(task.key);
      }
      if (!exited.empty()) {
        gate->Post([supervisor, exited = std::move(exited), v = *version] {
          supervisor->Acknowledge(exited, v);
        });
      }
      continue;
    }
    failures.Failed(version.error());
    // A refused connection means the controller's host answers but its server is down (a
    // restart): no controller is running that could declare this node failed meanwhile.
    if (version.error().message.find("Connection refused") != std::string::npos) contact->store(SteadyNowNs());
    {
      std::lock_guard lock(state->mu);
      if (!state->latest) state->latest = std::move(report);  // retry unless superseded
    }
    if (!state->SleepFor(backoff)) return;
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

// Watch thread: long-polls the assignment set and hands every answer to the loop.
void RunWatcher(std::shared_ptr<ControllerClient> client, std::shared_ptr<WorkerState> state,
                std::shared_ptr<LoopGate> gate, TaskSupervisor* supervisor) {
  FailureLog failures("cannot watch assignments");
  Duration backoff = kMinBackoff;
  std::int64_t version = -1;  // matches no controller version: the first answer comes at once
  while (!state->Stopping()) {
    Result<model::NodeAssignments> assignments = client->Watch(version, kWatchWait);
    if (state->Stopping()) return;
    if (assignments) {
      failures.Succeeded();
      backoff = kMinBackoff;
      version = assignments->version;
      gate->Post([supervisor, a = std::move(*assignments)] { supervisor->Apply(a); });
      continue;
    }
    failures.Failed(assignments.error());
    if (!state->SleepFor(backoff)) return;
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

}  // namespace

std::string CgroupBaseName(const std::string& node, const std::string& work_dir) {
  std::string safe;
  for (char c : node) safe += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ? c : '_';
  if (safe.size() > 40) safe.resize(40);
  // FNV-1a of the work dir: two agents of one host (weft up, tests) never share a base.
  std::uint32_t hash = 2166136261u;
  for (char c : work_dir) hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
  return fmt::format("weft-{}-{:08x}", safe, hash);
}

class Agent::Impl {
 public:
  Impl(AgentConfig config, ControllerClientFactory clients)
      : config_(std::move(config)), clients_(std::move(clients)) {}
  ~Impl() { Stop(); }

  Result<> Start();
  void Stop();

 private:
  void ScheduleReport();  // loop thread: a report soon, coalescing bursts of changes
  void SubmitReport();    // loop thread: hands a fresh report to the reporter
  void Heartbeat();       // loop thread: report, collect leftovers, re-arm
  void CheckContact();    // loop thread: fences the tasks when the controller is out of reach

  const AgentConfig config_;
  const ControllerClientFactory clients_;
  enum class Phase { kNew, kStarted, kStopped } phase_ = Phase::kNew;  // caller's thread
  // Declared before the supervisor and destroyed (joined) in Stop(), before it.
  std::unique_ptr<net::AsioEventLoop> loop_;
  std::unique_ptr<TaskIsolation> isolation_;
  model::NodeIsolation enforced_;  // what isolation_ enforces, reported with every heartbeat
  std::unique_ptr<TaskSupervisor> supervisor_;
  std::shared_ptr<LoopGate> gate_;
  std::shared_ptr<WorkerState> report_state_ = std::make_shared<WorkerState>();
  std::shared_ptr<WorkerState> watch_state_ = std::make_shared<WorkerState>();
  std::shared_ptr<ControllerClient> report_client_;
  std::shared_ptr<ControllerClient> watch_client_;
  Worker reporter_;
  Worker watcher_;
  bool report_posted_ = false;  // loop thread
  std::shared_ptr<ContactTime> contact_ = std::make_shared<ContactTime>(SteadyNowNs());
  bool fenced_ = false;  // loop thread: fenced since the last contact
};

Result<> Agent::Impl::Start() {
  if (phase_ != Phase::kNew) return Fail(ErrorCode::kFailedPrecondition, "agent already started");
  if (config_.name.empty()) return Fail(ErrorCode::kInvalidArgument, "agent name is empty");
  if (config_.work_dir.empty()) return Fail(ErrorCode::kInvalidArgument, "work_dir is empty");
  phase_ = Phase::kStarted;
  ChildReaper::Instance();  // a subreaper before the first task starts

  auto isolation = TaskIsolation::Create(config_.isolation, CgroupBaseName(config_.name, config_.work_dir));
  if (!isolation) {
    phase_ = Phase::kStopped;
    return tl::unexpected(isolation.error());
  }
  isolation_ = std::move(*isolation);
  enforced_ = isolation_->Describe();
  loop_ = std::make_unique<net::AsioEventLoop>();
  supervisor_ = std::make_unique<TaskSupervisor>(
      SupervisorConfig{config_.name, config_.work_dir, config_.kill_wait, isolation_.get()}, *loop_,
      [this] { ScheduleReport(); });
  gate_ = std::make_shared<LoopGate>(loop_.get());
  loop_->Start();

  std::promise<Result<>> recovered;
  loop_->Post([&] {
    Result<> result = supervisor_->Recover();
    if (result) {
      Heartbeat();
      CheckContact();
    }
    recovered.set_value(std::move(result));
  });
  if (Result<> result = recovered.get_future().get(); !result) {
    Stop();
    return result;
  }
  report_client_ = clients_();
  watch_client_ = clients_();
  reporter_.Start(
      [client = report_client_, state = report_state_, gate = gate_,
       supervisor = supervisor_.get(), contact = contact_] { RunReporter(client, state, gate, supervisor, contact); });
  watcher_.Start([client = watch_client_, state = watch_state_, gate = gate_,
                  supervisor = supervisor_.get()] { RunWatcher(client, state, gate, supervisor); });
  Log(LogLevel::kInfo, "agent {} started (work dir {})", config_.name, config_.work_dir);
  return {};
}

void Agent::Impl::Stop() {
  if (phase_ != Phase::kStarted) return;
  phase_ = Phase::kStopped;
  gate_->Close();
  for (const auto& state : {report_state_, watch_state_}) {
    std::lock_guard lock(state->mu);
    state->stopping = true;
    state->wake.notify_all();
  }
  for (const auto& client : {report_client_, watch_client_}) {
    if (client) client->Interrupt();
  }
  if (!reporter_.StopWithin(kStopGrace)) {
    Log(LogLevel::kDebug, "agent {}: reporter still in a call, left to finish", config_.name);
  }
  if (!watcher_.StopWithin(kStopGrace)) {
    Log(LogLevel::kDebug, "agent {}: watcher still in a call, left to finish", config_.name);
  }
  std::promise<void> shut_down;
  loop_->Post([&] {
    supervisor_->Shutdown();
    shut_down.set_value();
  });
  shut_down.get_future().wait();
  loop_->Stop();
  loop_.reset();  // joins the loop thread: nothing runs on the supervisor any more
  isolation_->Close();
  Log(LogLevel::kInfo, "agent {} stopped", config_.name);
}

void Agent::Impl::ScheduleReport() {
  if (std::exchange(report_posted_, true)) return;
  loop_->Post([this] {
    report_posted_ = false;
    SubmitReport();
  });
}

void Agent::Impl::SubmitReport() {
  model::NodeReport report;
  report.name = config_.name;
  report.address = config_.address;
  report.capacity = config_.capacity;
  report.gpu_model = config_.gpu_model;
  report.labels = config_.labels;
  report.gpus = config_.gpus;
  report.isolation = enforced_;
  report.tasks = supervisor_->Snapshot();
  std::lock_guard lock(report_state_->mu);
  report_state_->latest = std::move(report);
  report_state_->wake.notify_all();
}

void Agent::Impl::CheckContact() {
  if (config_.fence_after <= Duration::zero()) return;
  const auto silent = std::chrono::nanoseconds(SteadyNowNs() - contact_->load());
  if (silent < config_.fence_after) {
    fenced_ = false;
  } else if (!std::exchange(fenced_, true)) {
    supervisor_->Fence(fmt::format("no report has reached the controller for {} ms",
                                   std::chrono::duration_cast<std::chrono::milliseconds>(silent).count()));
  }
  const Duration period = std::clamp<Duration>(config_.fence_after / 8, std::chrono::milliseconds(20),
                                               std::chrono::seconds(1));
  loop_->RunAfter(period, [this] { CheckContact(); });
}

void Agent::Impl::Heartbeat() {
  supervisor_->SampleUsage();
  SubmitReport();
  supervisor_->CollectLeftovers();
  loop_->RunAfter(config_.heartbeat_interval, [this] { Heartbeat(); });
}

Agent::Agent(AgentConfig config)
    : Agent(config, [url = config.server_url, token = config.token, name = config.name, ca = config.ca_file] {
        return std::make_unique<HttpControllerClient>(url, token, name, ca);
      }) {}

Agent::Agent(AgentConfig config, ControllerClientFactory clients)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(clients))) {}

Agent::~Agent() = default;

Result<> Agent::Start() { return impl_->Start(); }

void Agent::Stop() { impl_->Stop(); }

}  // namespace weft::agent
