// `weft server`: flags → ServerOptions → RunServer; exits 0 after a graceful stop (SIGTERM/SIGINT).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "api/server.h"
#include "spec/cluster_config.h"

int ServerMain(int argc, char** argv) {
  CLI::App app{"weft server: the controller (REST API, scheduler, durable state)"};
  weft::api::ServerOptions options;
  std::string config;
  app.add_option("--listen", options.listen, "host:port to serve on (port 0: any free port)");
  app.add_option("--state-dir", options.state_dir, "durable state, token and address files")->required();
  app.add_option("--config", config, "cluster configuration (queues, scheduler)");
  app.add_option("--http-threads", options.http_threads, "HTTP I/O threads");
  double node_timeout_s = 30;
  app.add_option("--node-timeout", node_timeout_s, "seconds without an agent's report before its node is DOWN")
      ->check(CLI::PositiveNumber);
  app.add_option("--tls-cert", options.tls.cert_file, "certificate chain (PEM): serve HTTPS only (with --tls-key)");
  app.add_option("--tls-key", options.tls.key_file, "private key (PEM) of --tls-cert");
  double shutdown_grace_s = 10;
  app.add_option("--shutdown-grace", shutdown_grace_s,
                 "seconds requests in flight may take to finish after SIGTERM/SIGINT")
      ->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  options.node_timeout = std::chrono::duration_cast<weft::Duration>(std::chrono::duration<double>(node_timeout_s));
  options.shutdown_grace =
      std::chrono::duration_cast<weft::Duration>(std::chrono::duration<double>(shutdown_grace_s));
  if (options.tls.cert_file.empty() != options.tls.key_file.empty()) {
    std::fprintf(stderr, "weft server: %s: required with %s\n", options.tls.cert_file.empty() ? "--tls-cert" : "--tls-key",
                 options.tls.cert_file.empty() ? "--tls-key" : "--tls-cert");
    return 2;
  }
  if (!config.empty()) {
    std::ifstream in(config);
    if (!in) {
      std::fprintf(stderr, "weft server: --config: cannot read '%s'\n", config.c_str());
      return 2;
    }
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = weft::spec::ParseClusterConfig(text.str());
    if (!parsed) {
      std::fprintf(stderr, "weft server: %s: %s\n", config.c_str(), parsed.error().message.c_str());
      return 2;
    }
    options.config = std::move(*parsed);
  }
  auto result = weft::api::RunServer(options);
  if (!result) {
    std::fprintf(stderr, "weft server: %s\n", result.error().message.c_str());
    return 1;
  }
  return 0;
}
