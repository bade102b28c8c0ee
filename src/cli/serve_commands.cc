// `weft serve up|ls|status|update|down`: inference services (sky serve). The YAML is parsed
// and validated here (src/spec/service_spec.h) and sent to /v1/services as JSON.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "model/service.h"
#include "net/http.h"
#include "spec/service_spec.h"

namespace weft::cli {
namespace {

using nlohmann::json;

Result<model::ServiceSpec> ReadSpecFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: cannot read the service spec", path));
  std::stringstream text;
  text << in.rdbuf();
  std::error_code ec;
  const std::string cwd = std::filesystem::current_path(ec).string();
  auto spec = spec::ParseServiceYaml(text.str(), cwd);
  if (!spec) return Fail(ErrorCode::kInvalidArgument, fmt::format("{}: {}", path, spec.error().message));
  return spec;
}

std::string Ms(const json& v) { return fmt::format("{:.1f}ms", v.is_number() ? v.get<double>() : 0.0); }

// Polls the endpoint until a request answers below 500 (a ready replica served it) or the
// deadline; prints how long it took.
int WaitForFirstRequest(const std::string& endpoint, double timeout_s,
                        std::chrono::steady_clock::time_point since) {
  const auto deadline = since + std::chrono::duration<double>(timeout_s);
  net::HttpClient client(endpoint, "");
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = client.Get("/", std::chrono::seconds(5));
    if (r && r->status < 500) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
      std::printf("first request answered after %.2fs (status %d)\n", s, r->status);
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling interval, not a sync
  }
  return ReportError({ErrorCode::kDeadlineExceeded,
                      fmt::format("no replica answered at {} within {}s", endpoint, timeout_s)});
}

int Up(const std::string& file, bool wait, double timeout_s, bool as_json) {
  const auto start = std::chrono::steady_clock::now();
  auto spec = ReadSpecFile(file);
  if (!spec) return ReportError(spec.error(), 2);
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto created = (*client)->Post("/v1/services", model::ServiceSpecToJson(*spec));
  if (!created) return ReportError(created.error());
  const std::string endpoint = created->value("endpoint", "");
  if (as_json) {
    std::printf("%s\n", created->dump(2).c_str());
  } else {
    std::printf("service %s: endpoint %s\n", spec->name.c_str(), endpoint.c_str());
  }
  std::fflush(stdout);
  return wait ? WaitForFirstRequest(endpoint, timeout_s, start) : 0;
}

int Ls(bool as_json) {
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto list = (*client)->Get("/v1/services");
  if (!list) return ReportError(list.error());
  if (as_json) {
    std::printf("%s\n", list->dump(2).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const json& s : (*list)["services"]) {
    rows.push_back({s.value("name", ""), s.value("endpoint", ""),
                    fmt::format("{}/{}", s.value("ready_replicas", 0), s.value("desired_replicas", 0)),
                    fmt::format("{}-{}", s.value("min_replicas", 0), s.value("max_replicas", 0)),
                    std::to_string(s.value("generation", 0)), fmt::format("{:.1f}", s["traffic"].value("qps", 0.0)),
                    s.value("user", "")});
  }
  std::fputs(RenderTable({"NAME", "ENDPOINT", "READY/DESIRED", "REPLICAS", "GEN", "QPS", "USER"}, rows).c_str(),
             stdout);
  return 0;
}

int Status(const std::string& name, bool as_json) {
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto s = (*client)->Get("/v1/services/" + net::UrlEncode(name));
  if (!s) return ReportError(s.error());
  if (as_json) {
    std::printf("%s\n", s->dump(2).c_str());
    return 0;
  }
  const json& t = (*s)["traffic"];
  std::printf("Service %s  endpoint %s  generation %d\n", name.c_str(), s->value("endpoint", "").c_str(),
              s->value("generation", 0));
  std::printf("Replicas: %d ready, %d desired (min %d, max %d)  Load balancing: %s\n", s->value("ready_replicas", 0),
              s->value("desired_replicas", 0), s->value("min_replicas", 0), s->value("max_replicas", 0),
              s->value("load_balancing", "").c_str());
  std::printf("Traffic: %.1f qps, %lld in flight, %lld requests, %lld errors, p50 %s, p99 %s\n", t.value("qps", 0.0),
              t.value("in_flight", 0LL), t.value("requests", 0LL), t.value("errors", 0LL),
              Ms(t["latency_p50_ms"]).c_str(), Ms(t["latency_p99_ms"]).c_str());
  if (!s->value("message", "").empty()) std::printf("Message: %s\n", s->value("message", "").c_str());
  std::vector<std::vector<std::string>> rows;
  for (const json& r : (*s)["replicas"]) {
    const std::string ready = r.value("draining", false) ? "draining" : r.value("ready", false) ? "ready" : "not ready";
    rows.push_back({std::to_string(r.value("job_id", 0LL)), r.value("job_state", ""),
                    std::to_string(r.value("generation", 0)), r.value("node", "").empty() ? "-" : r.value("node", ""),
                    r.value("port", 0) ? fmt::format("{}:{}", r.value("host", ""), r.value("port", 0)) : "-", ready,
                    std::to_string(r.value("in_flight", 0LL)), fmt::format("{:.1f}", r.value("qps", 0.0)),
                    Ms(r["latency_p50_ms"]), Ms(r["latency_p99_ms"])});
  }
  std::fputs(RenderTable({"JOB", "STATE", "GEN", "NODE", "ADDRESS", "READINESS", "IN_FLIGHT", "QPS", "P50", "P99"},
                         rows)
                 .c_str(),
             stdout);
  return 0;
}

int Update(const std::string& name, const std::string& file) {
  auto spec = ReadSpecFile(file);
  if (!spec) return ReportError(spec.error(), 2);
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto updated = (*client)->Put("/v1/services/" + net::UrlEncode(name), model::ServiceSpecToJson(*spec));
  if (!updated) return ReportError(updated.error());
  std::printf("service %s: rolling update to generation %d\n", name.c_str(), updated->value("generation", 0));
  return 0;
}

int Down(const std::string& name) {
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto deleted = (*client)->Delete("/v1/services/" + net::UrlEncode(name));
  if (!deleted) return ReportError(deleted.error());
  std::printf("service %s: stopped\n", name.c_str());
  return 0;
}

}  // namespace

int ServeCommand(const std::vector<std::string>& argv) {
  CLI::App app{"inference services: replicas behind a load balancer, with readiness and autoscaling"};
  app.name("weft serve");
  app.require_subcommand(1);
  std::string output, file, name;
  bool wait = false;
  double timeout = 300;
  auto json_flag = [&](CLI::App* sub) {
    sub->add_option("-o,--output", output, "json for machine-readable output")->check(CLI::IsMember({"json", "table"}));
  };
  auto* up = app.add_subcommand("up", "start a service from its YAML spec; prints the endpoint");
  up->add_option("file", file, "the service spec (svc.yaml)")->required();
  up->add_flag("--wait", wait, "wait until a replica answers through the endpoint");
  up->add_option("--timeout", timeout, "seconds --wait waits at most");
  json_flag(up);
  auto* ls = app.add_subcommand("ls", "services, their endpoints and replica counts");
  json_flag(ls);
  auto* status = app.add_subcommand("status", "one service: replicas, readiness, QPS, latency");
  status->add_option("name", name)->required();
  json_flag(status);
  auto* update = app.add_subcommand("update", "rolling update to a new spec");
  update->add_option("name", name)->required();
  update->add_option("file", file)->required();
  auto* down = app.add_subcommand("down", "stop a service and all its replicas");
  down->add_option("name", name)->required();
  std::vector<std::string> args(argv.rbegin(), argv.rend());  // CLI11 takes them reversed
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const bool as_json = output == "json";
  if (*up) return Up(file, wait, timeout, as_json);
  if (*ls) return Ls(as_json);
  if (*status) return Status(name, as_json);
  if (*update) return Update(name, file);
  if (*down) return Down(name);
  return 2;
}

}  // namespace weft::cli
