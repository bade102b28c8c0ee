// Admission by queue quota, with borrowing of idle quota inside a cohort (Kueue's
// ClusterQueue/cohort model). Pure value logic: the scheduler builds one per cycle.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "model/queue.h"
#include "model/resources.h"

namespace weft::sched {

class QuotaLedger {
 public:
  // `queues`: the configured queues (none: every queue is unlimited). `usage`: what each
  // queue's running jobs hold now, whole jobs (per-node request × nodes).
  QuotaLedger(const std::vector<model::QueueConfig>& queues,
              std::map<std::string, model::Resources> usage);

  // True when `queue` may take `request` more: it stays within its nominal quota, or the
  // excess is borrowed from idle quota of its cohort without passing its borrow_limit.
  // Per resource: a resource without a nominal quota is not limited.
  bool Admits(const std::string& queue, const model::Resources& request) const;
  // Records that `queue` took `request` (a job started in this cycle).
  void Charge(const std::string& queue, const model::Resources& request);
  // Records that `queue` gives `held` back (a job that preemption would stop).
  void Refund(const std::string& queue, const model::Resources& held);

  const model::Resources& Usage(const std::string& queue) const;
  // Usage above the nominal quota, per resource (0 where within or unlimited).
  model::Resources Borrowed(const std::string& queue) const;

 private:
  const model::QueueConfig* Find(const std::string& queue) const;

  std::map<std::string, model::QueueConfig> queues_;
  std::map<std::string, model::Resources> usage_;
};

}  // namespace weft::sched
