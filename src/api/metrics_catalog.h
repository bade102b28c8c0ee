// Weft's metrics: which exist, what they measure, and how they are fed. Served at GET /metrics.
//
// Contract:
// - Counters and histograms are fed by events: the controller's ControllerObserver hooks
//   (loop thread) and ApiHandler's timed Responders (HTTP threads). Gauges are computed from
//   the controller at each scrape, so Render must run on the controller's loop thread.
// - The wall clock (std::chrono::steady_clock) is read here and nowhere in the controller:
//   scheduling cycles and API calls are timed by this class, so a simulated controller stays
//   deterministic. Queue wait is measured on the controller's own clock (job timestamps).
// - Label values are bounded: queues, pools and states come from configuration and enums;
//   an API route is its template (RouteTemplate), never the raw path.
//
// Metrics (base units, `_total` only on counters):
//   weft_jobs{queue,state}                                 gauge, every job the controller knows
//   weft_jobs_submitted_total{queue}                       counter, acknowledged submissions
//   weft_jobs_completed_total{queue,state}                 counter, jobs reaching a final state
//   weft_job_queue_wait_seconds{queue}                     histogram, submit (or requeue) → start
//   weft_scheduling_cycle_duration_seconds                 histogram, wall time per cycle
//   weft_nodes{pool,state}                                 gauge, node count by UP/DOWN
//   weft_node_capacity{pool,resource}                      gauge, UP nodes' capacity
//   weft_node_allocated{pool,resource}                     gauge, held by jobs on UP nodes
//       resource: gpus, cpus, memory_bytes
//   weft_api_request_duration_seconds{route,method,code}   histogram, receipt → response
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "api/metrics.h"
#include "controller/controller.h"
#include "net/http.h"

namespace weft::api {

class WeftMetrics final : public controller::ControllerObserver {
 public:
  WeftMetrics();

  // ControllerObserver; loop thread.
  void OnJobSubmitted(const model::Job& job) override;
  void OnJobStarted(const model::Job& job) override;
  void OnJobFinished(const model::Job& job) override;
  void OnCycleBegin() override;
  void OnCycleEnd() override;

  // Thread-safe. Wraps `respond` so that the response is timed from now and counted under
  // the request's route template, method and status.
  net::Responder TimeRequest(const net::HttpRequest& request, net::Responder respond);

  // The whole exposition. Loop thread only (reads `controller` for the gauges).
  std::string Render(const controller::Controller& controller) const;

  const CounterFamily& submitted() const { return submitted_; }

 private:
  MetricsRegistry registry_;
  CounterFamily& submitted_;
  CounterFamily& completed_;
  HistogramFamily& queue_wait_;
  HistogramFamily& cycle_duration_;
  HistogramFamily& request_duration_;
  std::chrono::steady_clock::time_point cycle_start_{};  // loop thread only
};

// The route template of a request path, e.g. "/v1/jobs/{id}/logs"; "other" for unknown paths.
std::string RouteTemplate(std::string_view path);
// The method, or "other" for one the API does not use.
std::string_view MethodLabel(std::string_view method);

}  // namespace weft::api
