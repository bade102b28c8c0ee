// Sustained mixed load on Weft's REST API (bench/mixed_load.sh starts the cluster). C client
// threads, each with its own keep-alive net::HttpClient, run closed-loop (no think time unless
// --think-ms) for --duration seconds, each request drawn at random from a user-like mix:
//
//   submit 25%   POST /v1/jobs, a short job (`true` or `sleep 0.1`, alternately)
//   list   25%   GET /v1/jobs?state=PENDING,RUNNING&limit=50 (squeue), or the dashboard's page
//                GET /v1/jobs?offset=0&limit=50&order=desc (half each)
//   show   25%   GET /v1/jobs/{id} of one of this client's jobs
//   cancel  5%   POST /v1/jobs/{id}/cancel of one of this client's jobs; "already ended" (412)
//                is an expected answer and counted apart, not as an error
//   nodes  15%   GET /v1/nodes
//   history 5%   GET /v1/history?since=<start of the run>
//
// Prints per-operation and overall count, p50/p99/p99.9/max latency in ms, requests/s and
// errors by kind (http_<status> for any other non-2xx answer, transport_<code> when no answer),
// then one machine-readable "weft mixed ..." line.
//
//   weft_mixed_load --server URL --token T [--clients 50] [--duration 60] [--dir DIR]
//                   [--timeout-ms 10000] [--think-ms 0] [--seed 1]
//                   [--weights submit,list,show,cancel,nodes,history]  (default 25,25,25,5,15,5)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/http.h"

namespace {

using Clock = std::chrono::steady_clock;

enum Op { kSubmit, kList, kShow, kCancel, kNodes, kHistory, kOps };
const char* const kOpNames[kOps] = {"submit", "list", "show", "cancel", "nodes", "history"};
int kWeights[kOps] = {25, 25, 25, 5, 15, 5};  // --weights overrides

struct Options {
  std::string server, token, dir = "/tmp";
  int clients = 50, duration_s = 60, timeout_ms = 10000, think_ms = 0;
  unsigned seed = 1;
};

struct ClientStats {
  std::vector<double> latency_ms[kOps];
  std::map<std::string, long long> errors;  // kind → count
  long long cancel_ended = 0;               // cancel of a job that had already ended (expected)
  long long submitted = 0;
};

std::string JobBody(const Options& o, bool sleep) {
  const nlohmann::json spec = {{"name", sleep ? "mixed-sleep" : "mixed-true"},
                               {"script", sleep ? "#!/bin/sh\nsleep 0.1\n" : "#!/bin/sh\ntrue\n"},
                               {"submit_dir", o.dir},
                               {"work_dir", o.dir},
                               {"output", "/dev/null"},
                               {"num_nodes", 1},
                               {"resources", {{"cpu_milli", 500}}}};
  return nlohmann::json{{"spec", spec}}.dump();
}

std::string TransportKind(weft::ErrorCode code) {
  switch (code) {
    case weft::ErrorCode::kDeadlineExceeded: return "transport_timeout";
    case weft::ErrorCode::kUnavailable: return "transport_unavailable";
    default: return "transport_other";
  }
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

void RunClient(const Options& o, int index, Clock::time_point end, long long since_unix, ClientStats& stats) {
  weft::net::HttpClient http(o.server, o.token);
  std::mt19937 rng(o.seed * 1000003u + static_cast<unsigned>(index));
  std::discrete_distribution<int> pick(std::begin(kWeights), std::end(kWeights));
  const std::string bodies[2] = {JobBody(o, false), JobBody(o, true)};
  const std::string history = "/v1/history?since=" + std::to_string(since_unix);
  const auto timeout = std::chrono::milliseconds(o.timeout_ms);
  std::vector<long long> ids;  // this client's jobs
  while (Clock::now() < end) {
    int op = pick(rng);
    if ((op == kShow || op == kCancel) && ids.empty()) op = kSubmit;
    std::string method = "GET", target, body;
    switch (op) {
      case kSubmit:
        method = "POST";
        target = "/v1/jobs";
        body = bodies[stats.submitted % 2];
        break;
      case kList:
        target = rng() % 2 ? "/v1/jobs?state=PENDING,RUNNING&limit=50" : "/v1/jobs?offset=0&limit=50&order=desc";
        break;
      case kShow:
        target = "/v1/jobs/" + std::to_string(ids[rng() % ids.size()]);
        break;
      case kCancel:
        // Mostly recent jobs (which may still be queued), like a user cancelling a mistake.
        method = "POST";
        target = "/v1/jobs/" + std::to_string(ids[ids.size() - 1 - rng() % std::min<std::size_t>(ids.size(), 5)]) +
                 "/cancel";
        break;
      case kNodes: target = "/v1/nodes"; break;
      case kHistory: target = history; break;
    }
    const auto t0 = Clock::now();
    auto r = http.Request(method, target, body, timeout);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!r) {
      ++stats.errors[std::string(kOpNames[op]) + ":" + TransportKind(r.error().code)];
    } else if (op == kCancel && r->status == 412) {
      ++stats.cancel_ended;
      stats.latency_ms[op].push_back(ms);
    } else if (r->status < 200 || r->status > 299) {
      ++stats.errors[std::string(kOpNames[op]) + ":http_" + std::to_string(r->status)];
      if (stats.errors.size() < 3) std::fprintf(stderr, "%s %s → %d %s\n", method.c_str(), target.c_str(), r->status,
                                                r->body.substr(0, 200).c_str());
    } else {
      stats.latency_ms[op].push_back(ms);
      if (op == kSubmit) {
        ++stats.submitted;
        auto j = nlohmann::json::parse(r->body, nullptr, false);
        if (j.is_object() && j.contains("id")) ids.push_back(j["id"].get<long long>());
      }
    }
    if (o.think_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.think_ms));
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--server") o.server = v;
    else if (k == "--token") o.token = v;
    else if (k == "--clients") o.clients = std::atoi(v.c_str());
    else if (k == "--duration") o.duration_s = std::atoi(v.c_str());
    else if (k == "--dir") o.dir = v;
    else if (k == "--timeout-ms") o.timeout_ms = std::atoi(v.c_str());
    else if (k == "--think-ms") o.think_ms = std::atoi(v.c_str());
    else if (k == "--seed") o.seed = static_cast<unsigned>(std::atoi(v.c_str()));
    else if (k == "--weights") {
      int n = std::sscanf(v.c_str(), "%d,%d,%d,%d,%d,%d", &kWeights[0], &kWeights[1], &kWeights[2], &kWeights[3],
                          &kWeights[4], &kWeights[5]);
      if (n != kOps) {
        std::fprintf(stderr, "--weights: six whole numbers\n");
        return 2;
      }
    }
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.server.empty() || o.clients < 1 || o.duration_s < 1) {
    std::fprintf(stderr, "usage: weft_mixed_load --server URL --token T [--clients N] [--duration S] ...\n");
    return 2;
  }
  std::vector<ClientStats> stats(o.clients);
  const long long since = static_cast<long long>(std::time(nullptr)) - 1;
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::seconds(o.duration_s);
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c) threads.emplace_back([&, c] { RunClient(o, c, end, since, stats[c]); });
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();

  std::vector<double> all, per_op[kOps];
  std::map<std::string, long long> errors;
  long long cancel_ended = 0, submitted = 0, error_total = 0;
  for (auto& s : stats) {
    for (int op = 0; op < kOps; ++op) per_op[op].insert(per_op[op].end(), s.latency_ms[op].begin(), s.latency_ms[op].end());
    for (const auto& [kind, n] : s.errors) errors[kind] += n, error_total += n;
    cancel_ended += s.cancel_ended;
    submitted += s.submitted;
  }
  std::printf("%-8s %9s %9s %9s %9s %9s\n", "op", "ok", "p50_ms", "p99_ms", "p99.9_ms", "max_ms");
  for (int op = 0; op < kOps; ++op) {
    auto& v = per_op[op];
    std::sort(v.begin(), v.end());
    all.insert(all.end(), v.begin(), v.end());
    std::printf("%-8s %9zu %9.2f %9.2f %9.2f %9.2f\n", kOpNames[op], v.size(), Percentile(v, 0.5), Percentile(v, 0.99),
                Percentile(v, 0.999), v.empty() ? 0.0 : v.back());
  }
  std::sort(all.begin(), all.end());
  std::printf("%-8s %9zu %9.2f %9.2f %9.2f %9.2f\n", "all", all.size(), Percentile(all, 0.5), Percentile(all, 0.99),
              Percentile(all, 0.999), all.empty() ? 0.0 : all.back());
  std::printf("cancel of an already-ended job (expected, not an error): %lld\n", cancel_ended);
  std::printf("errors: %lld\n", error_total);
  for (const auto& [kind, n] : errors) std::printf("  %s: %lld\n", kind.c_str(), n);
  const double total = static_cast<double>(all.size() + static_cast<std::size_t>(error_total));
  std::printf(
      "weft mixed clients=%d duration_s=%.1f requests=%.0f req_per_s=%.1f p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f "
      "errors=%lld jobs_submitted=%lld\n",
      o.clients, elapsed, total, total / elapsed, Percentile(all, 0.5), Percentile(all, 0.99), Percentile(all, 0.999),
      error_total, submitted);
  return error_total == 0 ? 0 : 1;
}
