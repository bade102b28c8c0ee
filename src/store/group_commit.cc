#include "store/group_commit.h"

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <iterator>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/check.h"

namespace weft::store {

// Contract details beyond group_commit.h: `done` must not throw (it runs on the writer thread,
// where an exception would terminate the process) and must not call Flush() (checked: it would
// wait for itself); it may call Submit(). A null `done` is allowed. Groups are unbounded: a
// group is everything queued when the previous commit finished.
//
// Shared between submitters and the writer thread. `mu_` guards the queue and counters; it is
// never held while the store is written or a `done` callback runs.
class GroupCommitter::State {
 public:
  explicit State(KvStore& store) : store_(store), writer_([this] { Run(); }) {}

  ~State() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    work_cv_.notify_one();
    writer_.join();
  }

  void Submit(WriteBatch batch, Done done) {
    {
      std::lock_guard lock(mu_);
      // Once the destructor has begun only `done` callbacks (on the writer) may submit more.
      WEFT_CHECK(!stopping_ || std::this_thread::get_id() == writer_.get_id());
      queue_.push_back(Pending{std::move(batch), std::move(done)});
      ++submitted_;
    }
    work_cv_.notify_one();
  }

  void Flush() {
    // From a `done` callback this would wait for itself.
    WEFT_CHECK(std::this_thread::get_id() != writer_.get_id());
    std::unique_lock lock(mu_);
    const std::uint64_t target = submitted_;
    done_cv_.wait(lock, [&] { return completed_ >= target; });
  }

 private:
  struct Pending {
    WriteBatch batch;
    Done done;
  };

  void Run() {
    std::vector<Pending> group;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // Stopping and drained.
        group.assign(std::make_move_iterator(queue_.begin()),
                     std::make_move_iterator(queue_.end()));
        queue_.clear();
      }
      Commit(group);
      {
        std::lock_guard lock(mu_);
        completed_ += group.size();
      }
      done_cv_.notify_all();
      group.clear();
    }
  }

  // Writes `group` as one transaction and runs every callback in order. If the combined write
  // fails, each batch is retried alone so that one bad batch fails only its own submitter.
  void Commit(std::vector<Pending>& group) {
    if (group.size() == 1) {
      Finish(group.front(), store_.Write(group.front().batch));
      return;
    }
    // The batches are moved into one and moved back only if the fallback needs them.
    std::vector<size_t> sizes;
    sizes.reserve(group.size());
    size_t total = 0;
    for (const Pending& p : group) total += p.batch.size();
    WriteBatch combined;
    combined.reserve(total);
    for (Pending& p : group) {
      sizes.push_back(p.batch.size());
      std::move(p.batch.begin(), p.batch.end(), std::back_inserter(combined));
      p.batch.clear();
    }
    const Result<> result = store_.Write(combined);
    if (result) {
      for (Pending& p : group) Finish(p, result);
      return;
    }
    auto next = combined.begin();
    for (size_t i = 0; i < group.size(); ++i) {
      WriteBatch& batch = group[i].batch;
      batch.assign(std::make_move_iterator(next), std::make_move_iterator(next + sizes[i]));
      next += sizes[i];
      Finish(group[i], store_.Write(batch));
    }
  }

  static void Finish(Pending& p, const Result<>& result) {
    if (p.done) p.done(result);
  }

  KvStore& store_;
  std::mutex mu_;
  std::condition_variable work_cv_;  // Queue became non-empty, or stopping.
  std::condition_variable done_cv_;  // completed_ advanced.
  std::deque<Pending> queue_;
  std::uint64_t submitted_ = 0;
  std::uint64_t completed_ = 0;  // Batches whose `done` has returned.
  bool stopping_ = false;
  std::thread writer_;  // Last: starts after every other member is initialised.
};

GroupCommitter::GroupCommitter(KvStore& store) : state_(std::make_unique<State>(store)) {}

GroupCommitter::~GroupCommitter() = default;

void GroupCommitter::Submit(WriteBatch batch, Done done) {
  state_->Submit(std::move(batch), std::move(done));
}

void GroupCommitter::Flush() { state_->Flush(); }

}  // namespace weft::store
