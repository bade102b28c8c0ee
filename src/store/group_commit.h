// Group commit: many writers' batches become one durable transaction, so durability costs one
// fsync per group instead of one per request. A single writer thread drains the queue.
#pragma once

#include <functional>
#include <memory>

#include "store/kv_store.h"

namespace weft::store {

class GroupCommitter {
 public:
  using Done = std::function<void(Result<>)>;

  // `store` must outlive this object.
  explicit GroupCommitter(KvStore& store);
  ~GroupCommitter();  // Commits everything submitted so far, then joins the writer thread.

  // Thread-safe. Batches are applied in submission order; `done` runs on the writer thread
  // once the batch is durable (or failed), in submission order.
  void Submit(WriteBatch batch, Done done);
  // Blocks until every batch submitted before the call is done.
  void Flush();

 private:
  class State;
  std::unique_ptr<State> state_;
};

}  // namespace weft::store
