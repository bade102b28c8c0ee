#include "controller/persister.h"

#include <cstdlib>

#include "common/log.h"

namespace weft::controller {
namespace {
[[noreturn]] void DieOnStoreFailure(const Error& error) {
  Log(LogLevel::kError, "cannot make state durable, stopping: {}", error.message);
  std::abort();
}
}  // namespace

void GroupCommitPersister::Persist(store::WriteBatch batch, std::function<void()> done) {
  committer_.Submit(std::move(batch), [this, done = std::move(done)](Result<> result) mutable {
    if (!result) DieOnStoreFailure(result.error());
    loop_.Post(std::move(done));
  });
}

void DirectPersister::Persist(store::WriteBatch batch, std::function<void()> done) {
  Result<> result = store_.Write(batch);
  if (!result) DieOnStoreFailure(result.error());
  loop_.Post(std::move(done));
}

}  // namespace weft::controller
