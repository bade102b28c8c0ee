// Inference services: what a user asked for (ServiceSpec, from `weft serve up svc.yaml`) and
// the service as the server keeps it (Service: spec, generation, endpoint). Value types only;
// src/serve owns the instances. A service's replicas are ordinary jobs whose JobSpec names the
// service (JobSpec::service, ::service_generation).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/error.h"
#include "model/resources.h"

namespace weft::model {

// HTTP GET `path` on each running replica every `period` (after `initial_delay` from its
// start), answered 2xx within `timeout` = a success. `failure_threshold` consecutive failures
// take a ready replica out of rotation; one success puts it back.
struct ReadinessProbe {
  std::string path = "/health";
  Duration initial_delay{0};
  Duration period = std::chrono::seconds(2);
  Duration timeout = std::chrono::seconds(1);
  int failure_threshold = 1;
  bool operator==(const ReadinessProbe&) const = default;
};

// Replicas follow load: ceil(QPS / target_qps_per_replica), and when
// max_concurrent_per_replica is set, at least ceil(in-flight / it). A higher count is applied
// once wanted for `upscale_delay`, a lower one once wanted for `downscale_delay`. With
// min_replicas 0 the service scales to zero when idle; a request arriving then is held up to
// `cold_start_timeout` while one replica starts. target_qps_per_replica 0 = no autoscaling
// (min_replicas replicas).
struct AutoscaleSpec {
  double target_qps_per_replica = 0;
  int max_concurrent_per_replica = 0;  // 0 = not a criterion
  Duration upscale_delay = std::chrono::seconds(30);
  Duration downscale_delay = std::chrono::seconds(300);
  Duration cold_start_timeout = std::chrono::seconds(60);
  bool operator==(const AutoscaleSpec&) const = default;
};

struct ServiceSpec {
  std::string name;  // [a-z0-9-], unique in the cluster
  int min_replicas = 1;
  int max_replicas = 1;
  Resources per_replica;  // each replica is a one-node job holding this
  std::string gpu_model;  // "" = any
  std::string queue;      // "" = the default queue
  // The port each replica listens on ($WEFT_PORT). 0 = auto: the per-job port the controller
  // allocates (Job::master_port), so several replicas may share a node.
  int port = 0;
  ReadinessProbe readiness;
  AutoscaleSpec autoscale;
  std::string load_balancing = "least_outstanding";  // round_robin | least_outstanding | power_of_two
  std::string run;
  std::string setup;
  std::map<std::string, std::string> env;
  bool preemptible = false;
  std::string user;        // set by the API from the caller's token
  std::string submit_dir;  // absolute; replicas run and write their output here
  bool operator==(const ServiceSpec&) const = default;
};

enum class ServiceState { kActive, kDeleting };
std::string_view ToString(ServiceState state);

struct Service {
  ServiceSpec spec;
  int generation = 1;     // raised by every `weft serve update`; replicas carry theirs
  int endpoint_port = 0;  // the load balancer's port, kept across server restarts
  TimePoint created{};
  TimePoint updated{};
  ServiceState state = ServiceState::kActive;
  bool operator==(const Service&) const = default;
};

nlohmann::json ServiceSpecToJson(const ServiceSpec& spec);
// Missing fields keep their defaults; the first bad field is kInvalidArgument naming it.
Result<ServiceSpec> ServiceSpecFromJson(const nlohmann::json& j);
nlohmann::json ServiceToJson(const Service& service);
Result<Service> ServiceFromJson(const nlohmann::json& j);

}  // namespace weft::model
