// Inference services (`weft serve`): keeps each service's replicas running as jobs, its load
// balancer pointed at the ready ones, its replica count following the load, and rolls
// replicas over to a new generation on update. Sits between the controller (which places and
// runs the replica jobs like any job: queues, quotas, preemption) and the API.
//
// Threads: every method runs on the controller's loop thread (the API posts to it), and so do
// all decisions: a reconcile tick every `tick` reads the replica jobs from the controller
// (polling, so no controller hook is needed), probes readiness through the Prober's threads
// (results are posted back), feeds the Autoscaler from LoadBalancer::Stats() and submits,
// drains and cancels replica jobs. Each service's lb::LoadBalancer runs its own worker threads.
//
// Durability: a service record ("service/<name>") is durable before a create, update or
// delete is acknowledged; replica jobs are durable as jobs. After a restart Restore() re-opens
// each balancer on its recorded port and adopts the replica jobs still pending or running.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/event_loop.h"
#include "controller/controller.h"
#include "controller/persister.h"
#include "lb/autoscaler.h"
#include "lb/load_balancer.h"
#include "model/service.h"
#include "serve/prober.h"
#include "store/kv_store.h"

namespace weft::serve {

struct ServiceManagerOptions {
  std::string listen_host = "127.0.0.1";  // where the services' balancers listen
  Duration tick = std::chrono::milliseconds(100);
  // A replica taken out of rotation is cancelled once it has no request in flight (and at
  // least `min_drain` has passed, for requests picked just before), or after drain_timeout.
  Duration min_drain = std::chrono::milliseconds(500);
  Duration drain_timeout = std::chrono::seconds(30);
  // A replica that was ready and then failed this many probes beyond its failure_threshold is
  // cancelled and replaced (it stays out of rotation meanwhile).
  int replace_after_failures = 3;
  Duration submit_retry = std::chrono::seconds(5);  // after a refused replica submission
  Duration crash_backoff_first = std::chrono::seconds(1);
  Duration crash_backoff_max = std::chrono::seconds(60);
  int lb_workers = 1;
  int prober_threads = 4;
};

// One replica as `weft serve status` shows it.
struct ReplicaStatus {
  model::JobId job = 0;
  std::string job_state;  // PENDING, RUNNING, ...
  int generation = 0;
  int index = 0;          // WEFT_REPLICA
  std::string node;
  std::string host;
  int port = 0;
  bool ready = false;
  bool draining = false;
  std::int64_t in_flight = 0;
  std::int64_t requests = 0;
  std::int64_t errors = 0;
  double qps = 0;
  Duration p50{0};
  Duration p99{0};
};

struct ServiceStatus {
  model::Service service;
  std::string endpoint;  // "http://127.0.0.1:43210"
  int desired_replicas = 0;
  int ready_replicas = 0;
  std::string message;   // the last problem (a refused submission), "" = none
  lb::TrafficSummary traffic;
  std::vector<ReplicaStatus> replicas;  // by job id
};

// Keys "service/<name>".
store::WriteOp PutService(const model::Service& service);
store::WriteOp DeleteService(const std::string& name);
Result<std::vector<model::Service>> LoadServices(const store::KvStore& store);

class ServiceManager {
 public:
  using StatusCallback = std::function<void(Result<ServiceStatus>)>;

  ServiceManager(controller::Controller& controller, EventLoop& loop, controller::Persister& persister,
                 ServiceManagerOptions options = {});
  ~ServiceManager();  // Stop()s.

  // Loop thread, once, after the controller's Restore and before serving: re-opens each
  // service and adopts its replica jobs; finishes deletes a crash interrupted. Starts ticking.
  void Restore(std::vector<model::Service> services);
  // Loop thread: stops ticking, the balancers and the prober. Idempotent.
  void Stop();

  // Validates, opens the balancer, stores the service (generation 1) and answers once durable.
  // kAlreadyExists for a taken name; kInvalidArgument naming the field for a bad spec.
  void Create(model::ServiceSpec spec, StatusCallback done);
  // Rolling update to `spec` (generation + 1), answered once durable. The name cannot change;
  // load_balancing keeps the balancer's policy until the server restarts.
  void Update(const std::string& name, model::ServiceSpec spec, StatusCallback done);
  // Cancels every replica, closes the balancer and forgets the service once that is durable.
  void Delete(const std::string& name, std::function<void(Result<>)> done);

  // kNotFound for an unknown (or being deleted) service.
  Result<ServiceStatus> Get(const std::string& name) const;
  std::vector<ServiceStatus> List() const;

 private:
  struct Replica {
    model::JobId job = 0;
    int generation = 0;
    int index = 0;
    bool running = false;  // RUNNING with its task started: a backend of the balancer
    std::string node, host;
    int port = 0;
    bool ready = false;
    bool ever_ready = false;
    int failures = 0;  // consecutive failed probes
    bool probe_in_flight = false;
    TimePoint next_probe{};
    std::optional<TimePoint> draining_since;  // out of rotation, to be cancelled
    bool cancelled = false;                   // Cancel sent; waiting for the job to end
  };
  struct Runtime {
    std::uint64_t serial = 0;  // tells a runtime apart from a later one of the same name
    model::Service service;
    bool durable = false;   // its record is stored; reconciled only then
    bool deleting = false;
    std::unique_ptr<lb::LoadBalancer> lb;
    std::unique_ptr<lb::Autoscaler> autoscaler;
    std::map<model::JobId, Replica> replicas;
    int submits_in_flight = 0;
    int next_index = 0;
    std::string message;
    TimePoint retry_submit_after{};
    // Replicas that end before ever becoming ready (a bad `run`, a port in use) are replaced
    // after this delay, doubled at each such end up to crash_backoff_max; 0 after a replica
    // becomes ready.
    Duration crash_backoff{0};
    std::vector<lb::Backend> backends;  // as last given to the balancer
  };

  Result<> CheckSpec(const model::ServiceSpec& spec) const;
  Result<std::unique_ptr<lb::LoadBalancer>> OpenBalancer(const model::ServiceSpec& spec, int port) const;
  static lb::AutoscalerConfig AutoscalerConfigOf(const model::ServiceSpec& spec);
  ServiceStatus StatusOf(const Runtime& rt) const;
  void ScheduleTick();
  void Tick();
  void Reconcile(Runtime& rt, TimePoint now);
  // Reads the replica jobs' states: forgets those that ended, adds those that started running.
  void RefreshReplicas(Runtime& rt, TimePoint now);
  // Gives the balancer the running replicas with their readiness, when that changed.
  void SyncBackends(Runtime& rt);
  void StartProbes(Runtime& rt, TimePoint now);
  void OnProbe(const std::string& name, std::uint64_t serial, model::JobId job, bool ok);
  void ScaleAndRoll(Runtime& rt, TimePoint now);
  void SubmitReplicas(Runtime& rt, int count, TimePoint now);
  void Drain(Runtime& rt, Replica& replica, TimePoint now);
  void CancelReplica(Replica& replica);
  void FinishDrains(Runtime& rt, const lb::LbStats& stats, TimePoint now);
  Runtime* Find(const std::string& name, std::uint64_t serial);

  controller::Controller& controller_;
  EventLoop& loop_;
  controller::Persister& persister_;
  const ServiceManagerOptions options_;
  Prober prober_;
  std::map<std::string, std::unique_ptr<Runtime>> services_;
  std::uint64_t next_serial_ = 1;
  std::optional<TimerId> tick_timer_;
  bool stopped_ = false;
  // Node name → address, rebuilt when a replica needs one it lacks.
  std::map<std::string, std::string> node_addresses_;
};

}  // namespace weft::serve
