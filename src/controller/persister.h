// Where the controller sends state changes to make them durable. Batches commit in the
// order they are handed over; `done` runs on the controller's loop thread after the batch is
// durable. Nothing the controller acknowledges to anyone happens before that.
#pragma once

#include <functional>

#include "common/event_loop.h"
#include "store/group_commit.h"
#include "store/kv_store.h"

namespace weft::controller {

class Persister {
 public:
  virtual ~Persister() = default;
  // Loop thread only. A batch that cannot be made durable is fatal (the process aborts):
  // continuing would acknowledge state that a restart would lose.
  virtual void Persist(store::WriteBatch batch, std::function<void()> done) = 0;
};

// Production: a GroupCommitter (one fsync per group) whose completions hop back to the loop.
class GroupCommitPersister final : public Persister {
 public:
  GroupCommitPersister(store::GroupCommitter& committer, EventLoop& loop)
      : committer_(committer), loop_(loop) {}
  void Persist(store::WriteBatch batch, std::function<void()> done) override;

 private:
  store::GroupCommitter& committer_;
  EventLoop& loop_;
};

// Tests and the simulator: writes synchronously, then posts `done` to the loop.
class DirectPersister final : public Persister {
 public:
  DirectPersister(store::KvStore& store, EventLoop& loop) : store_(store), loop_(loop) {}
  void Persist(store::WriteBatch batch, std::function<void()> done) override;

 private:
  store::KvStore& store_;
  EventLoop& loop_;
};

}  // namespace weft::controller
