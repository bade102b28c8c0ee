#include "serve/service_manager.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/log.h"
#include "model/json.h"
#include "spec/job_spec_parser.h"
#include "spec/service_spec.h"

namespace weft::serve {
namespace {

constexpr std::string_view kServicePrefix = "service/";

std::string BackendId(model::JobId job) { return std::to_string(job); }

}  // namespace

store::WriteOp PutService(const model::Service& service) {
  return {std::string(kServicePrefix) + service.spec.name, model::ServiceToJson(service).dump()};
}

store::WriteOp DeleteService(const std::string& name) {
  return {std::string(kServicePrefix) + name, std::nullopt};
}

Result<std::vector<model::Service>> LoadServices(const store::KvStore& store) {
  auto records = store.List(kServicePrefix);
  if (!records) return tl::unexpected(records.error());
  std::vector<model::Service> services;
  for (const auto& [key, value] : *records) {
    auto parsed = model::ParseJson(value);
    Result<model::Service> service =
        parsed ? model::ServiceFromJson(*parsed) : Result<model::Service>(tl::unexpected(parsed.error()));
    if (!service) {
      return Fail(ErrorCode::kInternal, fmt::format("record {}: {}", key, service.error().message));
    }
    services.push_back(std::move(*service));
  }
  return services;
}

ServiceManager::ServiceManager(controller::Controller& controller, EventLoop& loop,
                               controller::Persister& persister, ServiceManagerOptions options)
    : controller_(controller), loop_(loop), persister_(persister), options_(std::move(options)),
      prober_(options_.prober_threads) {}

ServiceManager::~ServiceManager() {
  // Stop() must have run on the loop thread for the timer; the balancers and the prober
  // stop safely from any thread.
  prober_.Stop();
  for (auto& [name, rt] : services_) {
    if (rt->lb) rt->lb->Stop();
  }
}

void ServiceManager::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (tick_timer_) loop_.Cancel(*tick_timer_);
  tick_timer_.reset();
  prober_.Stop();
  for (auto& [name, rt] : services_) {
    if (rt->lb) rt->lb->Stop();
  }
}

lb::AutoscalerConfig ServiceManager::AutoscalerConfigOf(const model::ServiceSpec& spec) {
  lb::AutoscalerConfig c;
  c.min_replicas = spec.min_replicas;
  c.max_replicas = spec.max_replicas;
  c.target_qps_per_replica = spec.autoscale.target_qps_per_replica;
  c.max_concurrent_per_replica = spec.autoscale.max_concurrent_per_replica;
  c.upscale_delay = spec.autoscale.upscale_delay;
  c.downscale_delay = spec.autoscale.downscale_delay;
  return c;
}

Result<> ServiceManager::CheckSpec(const model::ServiceSpec& spec) const {
  if (auto valid = spec::ValidateServiceSpec(spec); !valid) return valid;
  // The replica job must be a valid job too (sizes, directories, UTF-8).
  return spec::Validate(spec::ReplicaJobSpec(spec, 1, 0));
}

Result<std::unique_ptr<lb::LoadBalancer>> ServiceManager::OpenBalancer(const model::ServiceSpec& spec,
                                                                       int port) const {
  lb::LoadBalancerOptions o;
  o.service_name = spec.name;
  o.listen_host = options_.listen_host;
  o.port = port;
  o.workers = options_.lb_workers;
  o.picker = spec.load_balancing;
  o.connect_timeout = std::chrono::seconds(1);
  auto lb = lb::LoadBalancer::Start(o);
  if (lb && spec.min_replicas == 0) (*lb)->SetHoldWhenEmpty(spec.autoscale.cold_start_timeout);
  return lb;
}

void ServiceManager::Restore(std::vector<model::Service> services) {
  // Replica jobs still pending or running, by service.
  std::map<std::string, std::vector<const model::Job*>> jobs;
  controller::JobFilter filter;
  filter.states = {model::JobState::kPending, model::JobState::kRunning};
  controller_.ForEachJob(filter, [&](const model::Job& job) {
    if (!job.spec.service.empty()) jobs[job.spec.service].push_back(controller_.FindJob(job.id));
  });
  for (model::Service& service : services) {
    const std::string name = service.spec.name;
    if (service.state == model::ServiceState::kDeleting) {
      // A delete the crash interrupted: finish it.
      for (const model::Job* job : jobs[name]) controller_.Cancel(job->id, [](Result<model::Job>) {});
      persister_.Persist({DeleteService(name)}, [] {});
      continue;
    }
    auto rt = std::make_unique<Runtime>();
    rt->serial = next_serial_++;
    rt->service = service;
    rt->durable = true;
    auto lb = OpenBalancer(service.spec, service.endpoint_port);
    if (!lb) {
      // The port was taken meanwhile: take another and record it.
      Log(LogLevel::kWarn, "service {}: cannot re-open port {} ({}); taking another", name,
          service.endpoint_port, lb.error().message);
      lb = OpenBalancer(service.spec, 0);
      if (!lb) {
        Log(LogLevel::kError, "service {}: no balancer: {}", name, lb.error().message);
        continue;
      }
      rt->service.endpoint_port = (*lb)->port();
      persister_.Persist({PutService(rt->service)}, [] {});
    }
    rt->lb = std::move(*lb);
    int current = 0;
    for (const model::Job* job : jobs[name]) {
      Replica r;
      r.job = job->id;
      r.generation = job->spec.service_generation;
      auto index = job->spec.env.find("WEFT_REPLICA");
      r.index = index == job->spec.env.end() ? 0 : std::atoi(index->second.c_str());
      rt->next_index = std::max(rt->next_index, r.index + 1);
      current += r.generation == service.generation ? 1 : 0;
      rt->replicas.emplace(r.job, r);
    }
    rt->autoscaler = std::make_unique<lb::Autoscaler>(AutoscalerConfigOf(rt->service.spec), current);
    Log(LogLevel::kInfo, "service {}: restored on port {} with {} replica job(s)", name,
        rt->service.endpoint_port, rt->replicas.size());
    services_.emplace(name, std::move(rt));
  }
  ScheduleTick();
}

void ServiceManager::Create(model::ServiceSpec spec, StatusCallback done) {
  if (auto valid = CheckSpec(spec); !valid) return done(tl::unexpected(valid.error()));
  if (services_.count(spec.name)) {
    return done(Fail(ErrorCode::kAlreadyExists, fmt::format("service '{}' already exists", spec.name)));
  }
  auto lb = OpenBalancer(spec, 0);
  if (!lb) return done(tl::unexpected(lb.error()));
  auto rt = std::make_unique<Runtime>();
  rt->serial = next_serial_++;
  rt->service.spec = std::move(spec);
  rt->service.generation = 1;
  rt->service.endpoint_port = (*lb)->port();
  rt->service.created = rt->service.updated = loop_.clock().Now();
  rt->lb = std::move(*lb);
  rt->autoscaler = std::make_unique<lb::Autoscaler>(AutoscalerConfigOf(rt->service.spec),
                                                    rt->service.spec.min_replicas);
  const std::string name = rt->service.spec.name;
  const std::uint64_t serial = rt->serial;
  store::WriteBatch batch{PutService(rt->service)};
  services_.emplace(name, std::move(rt));  // the name is taken from now on
  persister_.Persist(std::move(batch), [this, name, serial, done = std::move(done)] {
    Runtime* live = Find(name, serial);
    if (!live) return done(Fail(ErrorCode::kNotFound, fmt::format("service '{}' was deleted", name)));
    live->durable = true;
    Log(LogLevel::kInfo, "service {}: created, endpoint {}:{}", name, options_.listen_host,
        live->service.endpoint_port);
    Reconcile(*live, loop_.clock().Now());  // submit the first replicas now, not at the next tick
    done(StatusOf(*live));
  });
  ScheduleTick();
}

void ServiceManager::Update(const std::string& name, model::ServiceSpec spec, StatusCallback done) {
  auto it = services_.find(name);
  if (it == services_.end() || it->second->deleting || !it->second->durable) {
    return done(Fail(ErrorCode::kNotFound, fmt::format("service '{}' does not exist", name)));
  }
  if (spec.name != name) {
    return done(Fail(ErrorCode::kInvalidArgument,
                     fmt::format("name: '{}' differs from the service being updated, '{}'", spec.name, name)));
  }
  if (auto valid = CheckSpec(spec); !valid) return done(tl::unexpected(valid.error()));
  Runtime& rt = *it->second;
  model::Service next = rt.service;
  next.spec = std::move(spec);
  next.generation = rt.service.generation + 1;
  next.updated = loop_.clock().Now();
  const std::uint64_t serial = rt.serial;
  persister_.Persist({PutService(next)}, [this, name, serial, next, done = std::move(done)] {
    Runtime* live = Find(name, serial);
    if (!live) return done(Fail(ErrorCode::kNotFound, fmt::format("service '{}' was deleted", name)));
    const bool hold = next.spec.min_replicas == 0;
    const bool policy_changed = live->service.spec.load_balancing != next.spec.load_balancing;
    live->service = next;
    live->autoscaler->Reconfigure(AutoscalerConfigOf(next.spec));
    live->lb->SetHoldWhenEmpty(hold ? next.spec.autoscale.cold_start_timeout : Duration::zero());
    live->message.clear();
    if (policy_changed) {  // the running balancer switches; connections stay
      if (Result<> switched = live->lb->SetPicker(next.spec.load_balancing); !switched) {
        live->message = "load_balancing: " + switched.error().message;
      }
    }
    Log(LogLevel::kInfo, "service {}: rolling update to generation {}", name, next.generation);
    Reconcile(*live, loop_.clock().Now());
    done(StatusOf(*live));
  });
}

void ServiceManager::Delete(const std::string& name, std::function<void(Result<>)> done) {
  auto it = services_.find(name);
  if (it == services_.end() || it->second->deleting || !it->second->durable) {
    return done(Fail(ErrorCode::kNotFound, fmt::format("service '{}' does not exist", name)));
  }
  Runtime& rt = *it->second;
  rt.deleting = true;
  rt.service.state = model::ServiceState::kDeleting;
  // Durable first as DELETING (a crash finishes the delete at restore), then the replicas go.
  const std::uint64_t serial = rt.serial;
  persister_.Persist({PutService(rt.service)}, [this, name, serial, done = std::move(done)] {
    Runtime* live = Find(name, serial);
    if (!live) return done({});
    for (auto& [id, replica] : live->replicas) CancelReplica(replica);
    live->lb->Stop();
    persister_.Persist({DeleteService(name)}, [this, name, serial, done] {
      if (Find(name, serial)) services_.erase(name);
      Log(LogLevel::kInfo, "service {}: deleted", name);
      done({});
    });
  });
}

ServiceManager::Runtime* ServiceManager::Find(const std::string& name, std::uint64_t serial) {
  auto it = services_.find(name);
  return it != services_.end() && it->second->serial == serial ? it->second.get() : nullptr;
}

Result<ServiceStatus> ServiceManager::Get(const std::string& name) const {
  auto it = services_.find(name);
  if (it == services_.end() || it->second->deleting || !it->second->durable) {
    return Fail(ErrorCode::kNotFound, fmt::format("service '{}' does not exist", name));
  }
  return StatusOf(*it->second);
}

std::vector<ServiceStatus> ServiceManager::List() const {
  std::vector<ServiceStatus> out;
  for (const auto& [name, rt] : services_) {
    if (!rt->deleting && rt->durable) out.push_back(StatusOf(*rt));
  }
  return out;
}

ServiceStatus ServiceManager::StatusOf(const Runtime& rt) const {
  ServiceStatus s;
  s.service = rt.service;
  s.endpoint = fmt::format("http://{}:{}", options_.listen_host, rt.service.endpoint_port);
  s.desired_replicas = rt.autoscaler->desired();
  s.message = rt.message;
  const lb::LbStats stats = rt.lb->Stats();
  s.traffic = stats.total;
  for (const auto& [id, r] : rt.replicas) {
    ReplicaStatus out;
    out.job = id;
    const model::Job* job = controller_.FindJob(id);
    out.job_state = job ? std::string(model::ToString(job->state)) : "UNKNOWN";
    out.generation = r.generation;
    out.index = r.index;
    out.node = r.node;
    out.host = r.host;
    out.port = r.port;
    out.ready = r.ready && !r.draining_since && !r.cancelled;
    out.draining = r.draining_since.has_value() || r.cancelled;
    for (const lb::BackendStats& b : stats.backends) {
      if (b.id != BackendId(id)) continue;
      out.in_flight = b.traffic.in_flight;
      out.requests = b.traffic.requests;
      out.errors = b.traffic.errors;
      out.qps = b.traffic.qps;
      out.p50 = b.traffic.p50;
      out.p99 = b.traffic.p99;
    }
    s.ready_replicas += out.ready ? 1 : 0;
    s.replicas.push_back(std::move(out));
  }
  return s;
}

void ServiceManager::ScheduleTick() {
  if (tick_timer_ || stopped_) return;
  tick_timer_ = loop_.RunAfter(options_.tick, [this] {
    tick_timer_.reset();
    Tick();
  });
}

void ServiceManager::Tick() {
  if (stopped_) return;
  const TimePoint now = loop_.clock().Now();
  for (auto& [name, rt] : services_) {
    if (rt->durable && !rt->deleting) Reconcile(*rt, now);
  }
  if (!services_.empty()) ScheduleTick();
}

void ServiceManager::Reconcile(Runtime& rt, TimePoint now) {
  RefreshReplicas(rt, now);
  ScaleAndRoll(rt, now);
  SyncBackends(rt);
  StartProbes(rt, now);
}

void ServiceManager::RefreshReplicas(Runtime& rt, TimePoint now) {
  bool need_addresses = false;
  for (auto it = rt.replicas.begin(); it != rt.replicas.end();) {
    Replica& r = it->second;
    const model::Job* job = controller_.FindJob(r.job);
    if (!job || model::IsFinal(job->state) || (r.running && job->state != model::JobState::kRunning)) {
      // Ended (or requeued): out of the balancer at once; ScaleAndRoll replaces it.
      if (!r.cancelled) {
        const std::string how = job ? fmt::format("{} ({})", model::ToString(job->state), job->reason) : "gone";
        if (r.ever_ready) {
          Log(LogLevel::kInfo, "service {}: replica job {} ended {}; replacing it", rt.service.spec.name, r.job, how);
        } else {
          // Crash loop guard: replace it, but later and later.
          rt.crash_backoff = rt.crash_backoff.count() == 0
                                 ? options_.crash_backoff_first
                                 : std::min(rt.crash_backoff * 2, options_.crash_backoff_max);
          rt.retry_submit_after = std::max(rt.retry_submit_after, now + rt.crash_backoff);
          rt.message = fmt::format("replica job {} ended {} before becoming ready; next replica in {:.0f}s",
                                   r.job, how, ToSeconds(rt.crash_backoff));
          Log(LogLevel::kWarn, "service {}: {}", rt.service.spec.name, rt.message);
        }
      }
      it = rt.replicas.erase(it);
      continue;
    }
    // Being preempted or on a failed node: no new traffic.
    const bool interrupted = job->preempted_at.has_value() || job->node_failed_at.has_value();
    if (interrupted && r.ready) r.ready = false;
    // Probed from the moment it is placed (its port is known then): early probes just fail,
    // and waiting for the agent's report of the started task would delay readiness.
    if (!r.running && job->state == model::JobState::kRunning && !job->allocation.ranks.empty()) {
      r.node = job->allocation.ranks[0].node;
      auto address = node_addresses_.find(r.node);
      if (address == node_addresses_.end() && !need_addresses) {
        need_addresses = true;
        node_addresses_.clear();
        for (const controller::NodeStatus& n : controller_.ListNodes()) {
          node_addresses_[n.node.name] = n.node.address.empty() ? n.node.name : n.node.address;
        }
        address = node_addresses_.find(r.node);
      }
      r.host = address != node_addresses_.end() ? address->second : r.node;
      r.port = rt.service.spec.port > 0 ? rt.service.spec.port : job->master_port;
      r.running = true;
      r.next_probe = now + rt.service.spec.readiness.initial_delay;
    }
    ++it;
  }
}

void ServiceManager::SyncBackends(Runtime& rt) {
  std::vector<lb::Backend> backends;
  for (const auto& [id, r] : rt.replicas) {
    if (!r.running) continue;
    backends.push_back({BackendId(id), r.host, r.port, r.ready && !r.draining_since && !r.cancelled});
  }
  const bool same = backends.size() == rt.backends.size() &&
                    std::equal(backends.begin(), backends.end(), rt.backends.begin(),
                               [](const lb::Backend& a, const lb::Backend& b) {
                                 return a.id == b.id && a.host == b.host && a.port == b.port && a.ready == b.ready;
                               });
  if (same) return;
  if (Result<> set = rt.lb->SetBackends(backends); !set) {
    Log(LogLevel::kError, "service {}: cannot set backends: {}", rt.service.spec.name, set.error().message);
    rt.message = set.error().message;
    return;
  }
  rt.backends = std::move(backends);
}

void ServiceManager::StartProbes(Runtime& rt, TimePoint now) {
  const model::ReadinessProbe& probe = rt.service.spec.readiness;
  for (auto& [id, r] : rt.replicas) {
    if (!r.running || r.cancelled || r.probe_in_flight || now < r.next_probe) continue;
    r.probe_in_flight = true;
    prober_.Probe({r.host, r.port, probe.path, probe.timeout},
                  [this, name = rt.service.spec.name, serial = rt.serial, job = id](bool ok) {
                    loop_.Post([this, name, serial, job, ok] { OnProbe(name, serial, job, ok); });
                  });
  }
}

void ServiceManager::OnProbe(const std::string& name, std::uint64_t serial, model::JobId job, bool ok) {
  if (stopped_) return;
  Runtime* rt = Find(name, serial);
  if (!rt) return;
  auto it = rt->replicas.find(job);
  if (it == rt->replicas.end()) return;
  Replica& r = it->second;
  const model::ReadinessProbe& probe = rt->service.spec.readiness;
  const TimePoint now = loop_.clock().Now();
  r.probe_in_flight = false;
  r.next_probe = now + probe.period;
  const model::Job* record = controller_.FindJob(job);
  const bool interrupted = record && (record->preempted_at || record->node_failed_at);
  if (ok && !interrupted) {
    if (!r.ready) {
      Log(LogLevel::kInfo, "service {}: replica job {} ready on {}:{}", name, job, r.host, r.port);
    }
    rt->crash_backoff = Duration::zero();
    if (rt->message.find("before becoming ready") != std::string::npos) rt->message.clear();
    r.ready = r.ever_ready = true;
    r.failures = 0;
  } else {
    ++r.failures;
    if (r.ready && r.failures >= probe.failure_threshold) {
      Log(LogLevel::kInfo, "service {}: replica job {} failed {} readiness probe(s); out of rotation", name,
          job, r.failures);
      r.ready = false;
    }
    if (r.ever_ready && !r.cancelled && r.failures >= probe.failure_threshold + options_.replace_after_failures) {
      Log(LogLevel::kInfo, "service {}: replica job {} stopped answering; replacing it", name, job);
      CancelReplica(r);
    }
  }
  SyncBackends(*rt);  // readiness takes effect now, not at the next tick
}

void ServiceManager::CancelReplica(Replica& replica) {
  if (replica.cancelled) return;
  replica.cancelled = true;
  controller_.Cancel(replica.job, [](Result<model::Job>) {});
}

void ServiceManager::Drain(Runtime& rt, Replica& r, TimePoint now) {
  if (!r.running) {  // never served: nothing to drain
    CancelReplica(r);
    return;
  }
  Log(LogLevel::kInfo, "service {}: draining replica job {} (generation {})", rt.service.spec.name, r.job,
      r.generation);
  r.draining_since = now;
}

void ServiceManager::FinishDrains(Runtime& rt, const lb::LbStats& stats, TimePoint now) {
  for (auto& [id, r] : rt.replicas) {
    if (!r.draining_since || r.cancelled) continue;
    std::int64_t in_flight = 0;
    for (const lb::BackendStats& b : stats.backends) {
      if (b.id == BackendId(id)) in_flight = b.traffic.in_flight;
    }
    const Duration drained = now - *r.draining_since;
    if ((in_flight == 0 && drained >= options_.min_drain) || drained >= options_.drain_timeout) {
      CancelReplica(r);
    }
  }
}

void ServiceManager::SubmitReplicas(Runtime& rt, int count, TimePoint now) {
  for (int i = 0; i < count; ++i) {
    if (now < rt.retry_submit_after) return;  // a refusal (possibly answered inline) backs off
    const int index = rt.next_index++;
    const int generation = rt.service.generation;
    ++rt.submits_in_flight;
    controller_.Submit(
        spec::ReplicaJobSpec(rt.service.spec, generation, index),
        [this, name = rt.service.spec.name, serial = rt.serial, generation, index](Result<model::Job> job) {
          Runtime* live = Find(name, serial);
          if (!live || live->deleting) {
            if (job) controller_.Cancel(job->id, [](Result<model::Job>) {});
            return;
          }
          --live->submits_in_flight;
          if (!job) {
            live->message = "cannot submit a replica: " + job.error().message;
            live->retry_submit_after = loop_.clock().Now() + options_.submit_retry;
            Log(LogLevel::kWarn, "service {}: {}", name, live->message);
            return;
          }
          if (live->message.rfind("cannot submit", 0) == 0) live->message.clear();
          Replica r;
          r.job = job->id;
          r.generation = generation;
          r.index = index;
          live->replicas.emplace(r.job, r);
        });
  }
}

void ServiceManager::ScaleAndRoll(Runtime& rt, TimePoint now) {
  const lb::LbStats stats = rt.lb->Stats();
  std::int64_t backend_in_flight = 0;
  for (const lb::BackendStats& b : stats.backends) backend_in_flight += b.traffic.in_flight;
  lb::AutoscalerInput input;
  input.qps = stats.total.qps;
  input.in_flight = stats.total.in_flight;
  input.held = std::max<std::int64_t>(0, stats.total.in_flight - backend_in_flight);
  const int desired = rt.autoscaler->Update(now, input);
  FinishDrains(rt, stats, now);

  // Replicas still counted: not cancelled and not draining, by generation.
  const int generation = rt.service.generation;
  std::vector<Replica*> current, old;
  int current_ready = 0;
  for (auto& [id, r] : rt.replicas) {
    if (r.cancelled || r.draining_since) continue;
    (r.generation == generation ? current : old).push_back(&r);
    if (r.generation == generation && r.ready) ++current_ready;
  }
  const int current_count = static_cast<int>(current.size()) + rt.submits_in_flight;
  int old_count = static_cast<int>(old.size());

  // Which to remove first: never started, then not ready, then the newest.
  const auto removal_order = [](std::vector<Replica*>& v) {
    std::sort(v.begin(), v.end(), [](const Replica* a, const Replica* b) {
      if (a->running != b->running) return !a->running;
      if (a->ready != b->ready) return !a->ready;
      return a->job > b->job;
    });
  };

  if (old_count == 0) {
    if (current_count < desired) SubmitReplicas(rt, desired - current_count, now);
    if (static_cast<int>(current.size()) > desired && rt.submits_in_flight == 0) {
      removal_order(current);
      for (int i = 0; i < static_cast<int>(current.size()) - desired; ++i) Drain(rt, *current[i], now);
    }
    return;
  }
  // Rolling update: new replicas first (a surge above `desired`), then one old replica leaves
  // rotation for each new one that is ready, so the ready count never drops below `desired`.
  if (desired == 0) {
    for (Replica* r : old) Drain(rt, *r, now);
    return;
  }
  const int surge = std::max(1, desired / 4);
  if (current_count < desired) {
    const int room = desired + surge - current_count - old_count;
    SubmitReplicas(rt, std::min(desired - current_count, room), now);
  }
  removal_order(old);
  // Old replicas that never became ready carry no traffic: they go at once.
  for (Replica* r : old) {
    if (!r->ready && old_count > 0) {
      Drain(rt, *r, now);
      --old_count;
    }
  }
  for (Replica* r : old) {
    if (r->cancelled || r->draining_since) continue;
    if (current_ready + old_count <= desired) break;
    Drain(rt, *r, now);
    --old_count;
  }
}

}  // namespace weft::serve
