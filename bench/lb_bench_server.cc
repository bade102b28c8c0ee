// Runs weft::lb::LoadBalancer over given replicas, for bench/lb.sh.
// Usage: weft_lb_bench_server --backends HOST:PORT[,HOST:PORT...] [--workers W]
//        [--picker NAME] [--port P]; prints "port P" once listening, runs until SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "lb/load_balancer.h"

int main(int argc, char** argv) {
  weft::lb::LoadBalancerOptions options;
  options.service_name = "bench";
  std::vector<weft::lb::Backend> backends;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--workers") {
      options.workers = std::atoi(value.c_str());
    } else if (flag == "--picker") {
      options.picker = value;
    } else if (flag == "--port") {
      options.port = std::atoi(value.c_str());
    } else if (flag == "--backends") {
      size_t start = 0;
      while (start < value.size()) {
        size_t comma = value.find(',', start);
        if (comma == std::string::npos) comma = value.size();
        const std::string item = value.substr(start, comma - start);
        const size_t colon = item.rfind(':');
        backends.push_back({"r" + std::to_string(backends.size()), item.substr(0, colon),
                            std::atoi(item.c_str() + colon + 1), true});
        start = comma + 1;
      }
    } else {
      std::fprintf(stderr, "weft_lb_bench_server: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  // Block the stop signals before the workers start so that only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto lb = weft::lb::LoadBalancer::Start(options);
  if (!lb) {
    std::fprintf(stderr, "weft_lb_bench_server: %s\n", lb.error().message.c_str());
    return 1;
  }
  if (auto set = (*lb)->SetBackends(backends); !set) {
    std::fprintf(stderr, "weft_lb_bench_server: %s\n", set.error().message.c_str());
    return 1;
  }
  std::printf("port %d\n", (*lb)->port());
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  const weft::lb::LbStats stats = (*lb)->Stats();
  std::fprintf(stderr,
               "weft_lb_bench_server: %lld requests, %lld errors, p50 %lld us, p99 %lld us\n",
               static_cast<long long>(stats.total.requests),
               static_cast<long long>(stats.total.errors),
               static_cast<long long>(stats.total.p50.count()),
               static_cast<long long>(stats.total.p99.count()));
  (*lb)->Stop();
  return 0;
}
