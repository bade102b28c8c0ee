#include "sched/quota.h"

#include <algorithm>
#include <optional>

namespace weft::sched {
namespace {

using Limit = std::optional<std::int64_t>;

}  // namespace

QuotaLedger::QuotaLedger(const std::vector<model::QueueConfig>& queues,
                         std::map<std::string, model::Resources> usage)
    : usage_(std::move(usage)) {
  for (const model::QueueConfig& q : queues) queues_[q.name] = q;
}

const model::QueueConfig* QuotaLedger::Find(const std::string& queue) const {
  auto it = queues_.find(queue);
  return it == queues_.end() ? nullptr : &it->second;
}

const model::Resources& QuotaLedger::Usage(const std::string& queue) const {
  static const model::Resources kNone;
  auto it = usage_.find(queue);
  return it == usage_.end() ? kNone : it->second;
}

bool QuotaLedger::Admits(const std::string& queue, const model::Resources& request) const {
  const model::QueueConfig* config = Find(queue);
  if (!config) return true;  // not configured: not limited (the controller rejects unknown queues)
  const model::Resources& used = Usage(queue);
  for (const model::LimitedResource& d : model::kLimitedResources) {
    const Limit nominal = config->quota.*d.limit;
    if (!nominal) continue;
    const std::int64_t wanted = used.*d.used + request.*d.used;
    if (wanted <= *nominal) continue;
    // Over nominal: borrow, within the borrow limit, from what the cohort leaves idle.
    if (config->cohort.empty()) return false;
    const Limit borrow_limit = config->borrow_limit.*d.limit;
    if (borrow_limit && wanted - *nominal > *borrow_limit) return false;
    std::int64_t cohort_nominal = 0, cohort_used = 0;
    for (const auto& [name, member] : queues_) {
      if (member.cohort != config->cohort) continue;
      const Limit member_nominal = member.quota.*d.limit;
      if (!member_nominal) continue;  // unlimited members neither lend nor count
      cohort_nominal += *member_nominal;
      cohort_used += Usage(name).*d.used;
    }
    if (cohort_used + request.*d.used > cohort_nominal) return false;
  }
  return true;
}

void QuotaLedger::Charge(const std::string& queue, const model::Resources& request) {
  usage_[queue] += request;
}

void QuotaLedger::Refund(const std::string& queue, const model::Resources& held) {
  usage_[queue] -= held;
}

model::Resources QuotaLedger::Borrowed(const std::string& queue) const {
  model::Resources borrowed;
  const model::QueueConfig* config = Find(queue);
  if (!config) return borrowed;
  const model::Resources& used = Usage(queue);
  for (const model::LimitedResource& d : model::kLimitedResources) {
    const Limit nominal = config->quota.*d.limit;
    if (nominal) borrowed.*d.used = std::max<std::int64_t>(0, used.*d.used - *nominal);
  }
  return borrowed;
}

}  // namespace weft::sched
