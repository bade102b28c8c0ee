#include "serve/prober.h"

#include <fmt/format.h>

#include "net/http.h"

namespace weft::serve {

bool ProbeOnce(const ProbeTarget& target) {
  // A fresh connection per probe: a replica that stopped accepting fails its probe at once,
  // and a kept-alive socket could hide a wedged listener.
  const std::string host = target.host.find(':') != std::string::npos ? "[" + target.host + "]" : target.host;
  net::HttpClient client(fmt::format("http://{}:{}", host, target.port), "");
  auto response = client.Get(target.path, target.timeout);
  return response && response->status >= 200 && response->status < 300;
}

Prober::Prober(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Run(); });
}

Prober::~Prober() { Stop(); }

void Prober::Probe(ProbeTarget target, Done done) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    queue_.emplace_back(std::move(target), std::move(done));
  }
  cv_.notify_one();
}

void Prober::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void Prober::Run() {
  for (;;) {
    std::pair<ProbeTarget, Done> work;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    const bool ok = ProbeOnce(work.first);
    work.second(ok);
  }
}

}  // namespace weft::serve
