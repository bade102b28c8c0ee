// Lookups into a scheduling cycle's result, shared by the scheduler's tests.
#pragma once

#include <string>

#include "sched/scheduler.h"

namespace weft::testing {

inline const sched::StartDecision* FindStart(const sched::CycleResult& r, model::JobId id) {
  for (const auto& s : r.starts) {
    if (s.job_id == id) return &s;
  }
  return nullptr;
}

inline const sched::Reservation* FindReservation(const sched::CycleResult& r, model::JobId id) {
  for (const auto& res : r.reservations) {
    if (res.job_id == id) return &res;
  }
  return nullptr;
}

// The job's pending reason, or "" when it is not pending.
inline std::string ReasonOf(const sched::CycleResult& r, model::JobId id) {
  for (const auto& p : r.still_pending) {
    if (p.job_id == id) return p.reason;
  }
  return "";
}

}  // namespace weft::testing
