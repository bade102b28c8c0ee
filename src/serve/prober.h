// Readiness probes of service replicas: HTTP GET host:port/path with a timeout, on a few
// threads of its own so that a slow or silent replica never blocks the controller's loop.
// Results go to the caller's callback on a prober thread; the service manager posts them
// back to its loop.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"

namespace weft::serve {

struct ProbeTarget {
  std::string host;  // IP literal or "localhost"
  int port = 0;
  std::string path;  // starts with '/'
  Duration timeout = std::chrono::seconds(1);
};

class Prober {
 public:
  // `done(ok)`: ok = a 2xx answer arrived within the timeout. Runs on a prober thread.
  using Done = std::function<void(bool ok)>;

  explicit Prober(int threads = 4);
  ~Prober();  // Stop()s.
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // Thread-safe. Probes queued after Stop() are dropped without a callback.
  void Probe(ProbeTarget target, Done done);
  // Drops queued probes, waits for the running ones (at most their timeout) and joins.
  // Idempotent.
  void Stop();

 private:
  void Run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<ProbeTarget, Done>> queue_;  // guarded by mu_
  bool stopping_ = false;                           // guarded by mu_
  std::vector<std::thread> threads_;
};

// One probe, blocking: used by Prober's threads (and handy in tests).
bool ProbeOnce(const ProbeTarget& target);

}  // namespace weft::serve
