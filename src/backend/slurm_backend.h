// A SlurmPool behind the Backend interface: one worker thread per pool runs the blocking
// Slurm commands in call order and posts each result back to the controller's loop.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "backend/backend.h"
#include "backend/slurm_pool.h"
#include "common/event_loop.h"

namespace weft::backend {

class SlurmBackend final : public Backend {
 public:
  // `loop` receives every callback; it must outlive this object.
  SlurmBackend(EventLoop& loop, std::unique_ptr<SlurmPool> pool);
  // Finishes the command in progress, drops the queued ones (their callbacks never run) and
  // joins the worker.
  ~SlurmBackend() override;

  const std::string& pool() const override { return name_; }
  void Submit(model::Job job, std::function<void(Result<std::string>)> done) override;
  void Poll(std::function<void(Result<std::vector<BackendJobUpdate>>)> done) override;
  void Cancel(model::JobId job, bool only_pending, std::function<void(Result<>)> done) override;
  void Nodes(std::function<void(PoolNodes)> done) override;
  void Adopt(model::JobId job, std::string backend_id) override;
  void Find(model::JobId job, int attempt, std::function<void(Result<std::string>)> done) override;

 private:
  // Queues `work` for the worker thread (which alone touches pool_).
  void Enqueue(std::function<void()> work);
  void Run();

  EventLoop& loop_;
  std::unique_ptr<SlurmPool> pool_;
  const std::string name_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::thread worker_;  // last: started once everything above is ready
};

}  // namespace weft::backend
