// `weft serve up svc.yaml`: the service YAML → a validated model::ServiceSpec, and a
// service's replica → the model::JobSpec submitted for it. Pure: no I/O, no clock.
#pragma once

#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/error.h"
#include "model/job.h"
#include "model/service.h"

namespace weft::spec {

// Durations as service specs write them: "<number><unit>", unit ms, s, m or h ("200ms",
// "5s", "0.5s", "2m"); a bare number is seconds. Negative values are refused. Error names
// `label`.
Result<Duration> ParseServiceDuration(std::string_view label, std::string_view text);

// Parses and validates the service YAML (keys: name, replicas {min, max} or a count,
// resources {gpus, cpus, memory}, queue, port, readiness {path, initial_delay, period,
// timeout, failure_threshold}, autoscale {target_qps_per_replica, max_concurrent_per_replica,
// upscale_delay, downscale_delay, cold_start_timeout}, load_balancing, run, setup, env,
// preemptible). Unknown keys are refused. `submit_dir` becomes the replicas' work dir.
Result<model::ServiceSpec> ParseServiceYaml(std::string_view yaml_text, const std::string& submit_dir);

// Checks a spec from any source (the REST API included); the error is one sentence naming
// the field: name [a-z0-9-] (1..50 chars, starting with a letter or digit), 0 <= min <= max,
// max >= 1, period > 0, timeout > 0, a known load_balancing, a non-empty run, an absolute
// submit_dir.
Result<> ValidateServiceSpec(const model::ServiceSpec& spec);

// The job spec of one replica of `spec` at `generation`: one node holding per_replica, no
// time limit, not requeued (the service manager replaces replicas that end), preemptible as
// the service is, its script built from setup and run like a YAML job's. WEFT_REPLICA =
// `replica` and, for a fixed port, WEFT_PORT = port go in its environment (the controller sets
// WEFT_PORT to the job's allocated port otherwise, and WEFT_SERVICE).
model::JobSpec ReplicaJobSpec(const model::ServiceSpec& spec, int generation, int replica);

}  // namespace weft::spec
