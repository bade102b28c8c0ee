#include "backend/slurm_backend.h"

namespace weft::backend {

SlurmBackend::SlurmBackend(EventLoop& loop, std::unique_ptr<SlurmPool> pool)
    : loop_(loop), pool_(std::move(pool)), name_(pool_->config().pool), worker_([this] { Run(); }) {}

SlurmBackend::~SlurmBackend() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  worker_.join();
}

void SlurmBackend::Enqueue(std::function<void()> work) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(work));
  }
  cv_.notify_one();
}

void SlurmBackend::Run() {
  for (;;) {
    std::function<void()> work;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

void SlurmBackend::Submit(model::Job job, std::function<void(Result<std::string>)> done) {
  Enqueue([this, job = std::move(job), done = std::move(done)]() mutable {
    Result<std::string> id = pool_->Submit(job);
    loop_.Post([done = std::move(done), id = std::move(id)]() mutable { done(std::move(id)); });
  });
}

void SlurmBackend::Poll(std::function<void(Result<std::vector<BackendJobUpdate>>)> done) {
  Enqueue([this, done = std::move(done)]() mutable {
    Result<std::vector<BackendJobUpdate>> out = std::vector<BackendJobUpdate>{};
    auto polled = pool_->Poll();
    if (!polled) {
      out = tl::unexpected(polled.error());
    } else {
      for (SlurmJobUpdate& u : *polled) {
        out->push_back(BackendJobUpdate{u.job, std::move(u.slurm_id), u.state, u.exit_code, u.exit_signal,
                                        std::move(u.reason), std::move(u.nodes)});
      }
    }
    loop_.Post([done = std::move(done), out = std::move(out)]() mutable { done(std::move(out)); });
  });
}

void SlurmBackend::Cancel(model::JobId job, bool only_pending, std::function<void(Result<>)> done) {
  Enqueue([this, job, only_pending, done = std::move(done)]() mutable {
    Result<> r = pool_->Cancel(job, only_pending);
    loop_.Post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  });
}

void SlurmBackend::Nodes(std::function<void(PoolNodes)> done) {
  Enqueue([this, done = std::move(done)]() mutable {
    PoolNodes out;
    auto nodes = pool_->RefreshNodes(&out.idle);
    if (nodes) {
      out.nodes = std::move(*nodes);
    } else {
      out.unavailable_reason = nodes.error().message;
    }
    loop_.Post([done = std::move(done), out = std::move(out)]() mutable { done(std::move(out)); });
  });
}

void SlurmBackend::Adopt(model::JobId job, std::string backend_id) {
  Enqueue([this, job, id = std::move(backend_id)]() mutable { pool_->Adopt(job, std::move(id)); });
}

void SlurmBackend::Find(model::JobId job, int attempt, std::function<void(Result<std::string>)> done) {
  Enqueue([this, job, attempt, done = std::move(done)]() mutable {
    Result<std::string> id = pool_->Find(job, attempt);
    loop_.Post([done = std::move(done), id = std::move(id)]() mutable { done(std::move(id)); });
  });
}

}  // namespace weft::backend
