// End-to-end load generator for Weft's REST API: C concurrent keep-alive clients submit N
// trivial jobs, then it waits until every one has ended. Prints one "weft <figure> k=v..."
// line, like ../shared/bench/slurm/bench.sh does for Slurm.
//
//   weft_submit_load --server URL --token T [--jobs N] [--clients C] [--wait 1|0] [--reps R]
//                    [--nodes K]   (K larger than the cluster: jobs stay queued; pure submission)
//
// With --reps R > 1 it measures R single jobs one after another (submit → ended, long poll)
// and prints their median latency instead.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/http.h"

namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Options {
  std::string server, token, dir = "/tmp";
  int jobs = 1000, clients = 8, reps = 1, nodes = 1;
  bool wait = true;
};

std::string JobBody(const Options& o) {
  const nlohmann::json spec = {{"name", "bench"},
                               {"script", "#!/bin/sh\ntrue\n"},
                               {"submit_dir", o.dir},
                               {"work_dir", o.dir},
                               {"output", "/dev/null"},
                               {"num_nodes", o.nodes},
                               {"resources", {{"cpu_milli", 1000}}}};
  return nlohmann::json{{"spec", spec}}.dump();
}

long long SubmitOne(weft::net::HttpClient& http, const std::string& body) {
  auto r = http.Post("/v1/jobs", body);
  if (!r || r->status != 201) {
    std::fprintf(stderr, "submit failed: %s\n", r ? r->body.c_str() : r.error().message.c_str());
    std::exit(1);
  }
  return nlohmann::json::parse(r->body)["id"].get<long long>();
}

// Long-polls until the job has ended and released its nodes.
void WaitEnded(weft::net::HttpClient& http, long long id) {
  while (true) {
    auto r = http.Get("/v1/jobs/" + std::to_string(id) + "?wait_ms=10000", std::chrono::seconds(30));
    if (!r) continue;
    const std::string state = nlohmann::json::parse(r->body).value("state", "");
    if (state != "PENDING" && state != "RUNNING") return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--server") o.server = v;
    else if (k == "--token") o.token = v;
    else if (k == "--jobs") o.jobs = std::atoi(v.c_str());
    else if (k == "--clients") o.clients = std::atoi(v.c_str());
    else if (k == "--reps") o.reps = std::atoi(v.c_str());
    else if (k == "--wait") o.wait = v != "0";
    else if (k == "--dir") o.dir = v;
    else if (k == "--nodes") o.nodes = std::atoi(v.c_str());
  }
  const std::string body = JobBody(o);
  if (o.reps > 1) {
    weft::net::HttpClient http(o.server, o.token);
    std::vector<double> lat;
    for (int r = 0; r < o.reps; ++r) {
      const auto t0 = Clock::now();
      WaitEnded(http, SubmitOne(http, body));
      lat.push_back(Seconds(Clock::now() - t0));
    }
    std::sort(lat.begin(), lat.end());
    std::printf("weft job_latency reps=%d median_s=%.4f min_s=%.4f max_s=%.4f\n", o.reps, lat[lat.size() / 2],
                lat.front(), lat.back());
    return 0;
  }
  std::atomic<int> next{0};
  std::vector<long long> last_ids(o.clients, 0);
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c) {
    threads.emplace_back([&, c] {
      weft::net::HttpClient http(o.server, o.token);
      while (next.fetch_add(1) < o.jobs) last_ids[c] = std::max(last_ids[c], SubmitOne(http, body));
    });
  }
  for (auto& t : threads) t.join();
  const auto t1 = Clock::now();
  double done_s = 0;
  if (o.wait) {
    // Jobs end in roughly submission order; wait for every client's newest, then verify all.
    weft::net::HttpClient http(o.server, o.token);
    for (long long id : last_ids) {
      if (id) WaitEnded(http, id);
    }
    while (true) {
      auto r = http.Get("/v1/jobs?state=PENDING,RUNNING");
      if (r && nlohmann::json::parse(r->body)["jobs"].empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    done_s = Seconds(Clock::now() - t0);
  }
  const double submit_s = Seconds(t1 - t0);
  std::printf("weft api n=%d clients=%d submit_s=%.3f submit_per_s=%.1f all_done_s=%.3f done_per_s=%.1f\n", o.jobs,
              o.clients, submit_s, o.jobs / submit_s, done_s, done_s > 0 ? o.jobs / done_s : 0.0);
  return 0;
}
