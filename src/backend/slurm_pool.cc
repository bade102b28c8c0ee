#include "backend/slurm_pool.h"

#include <fmt/format.h>

#include <cctype>

#include "common/strings.h"

namespace weft::backend {
namespace {

// "1-3,5" with zero padding as written → the numbers as strings.
std::vector<std::string> ExpandRanges(std::string_view ranges) {
  std::vector<std::string> out;
  for (const std::string& part : Split(ranges, ',')) {
    const auto dash = part.find('-');
    if (dash == std::string::npos) {
      out.push_back(part);
      continue;
    }
    const std::string lo = part.substr(0, dash), hi = part.substr(dash + 1);
    const auto a = ParseInt(lo), b = ParseInt(hi);
    if (!a || !b || *b < *a || *b - *a > 100000) {
      out.push_back(part);
      continue;
    }
    for (long long i = *a; i <= *b; ++i) out.push_back(fmt::format("{:0{}}", i, lo.size()));
  }
  return out;
}

void ExpandInto(const std::string& name, std::vector<std::string>& out) {
  const auto open = name.find('[');
  const auto close = open == std::string::npos ? std::string::npos : name.find(']', open);
  if (close == std::string::npos) {
    out.push_back(name);
    return;
  }
  const std::string prefix = name.substr(0, open), rest = name.substr(close + 1);
  for (const std::string& n : ExpandRanges(std::string_view(name).substr(open + 1, close - open - 1))) {
    ExpandInto(prefix + n + rest, out);
  }
}

}  // namespace

std::vector<std::string> ExpandHostlist(std::string_view hostlist) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : Trim(hostlist)) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ',' && depth == 0) {
      if (!cur.empty()) ExpandInto(cur, out);
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (!cur.empty()) ExpandInto(cur, out);
  return out;
}

bool IsPoolError(const Error& error) {
  return error.code == ErrorCode::kUnavailable || error.code == ErrorCode::kFailedPrecondition;
}

SlurmPool::SlurmPool(SlurmPoolConfig config, std::unique_ptr<SlurmClient> client)
    : config_(std::move(config)), client_(std::move(client)) {}

void SlurmPool::Note(const Error& error) {
  if (IsPoolError(error)) unavailable_reason_ = error.message;
}

Result<std::vector<model::Node>> SlurmPool::RefreshNodes(std::vector<model::Resources>* idle) {
  if (auto check = client_->Check(); !check) {
    Note(check.error());
    return tl::unexpected(check.error());
  }
  auto nodes = client_->Nodes();
  if (!nodes) {
    Note(nodes.error());
    return tl::unexpected(nodes.error());
  }
  unavailable_reason_.clear();
  std::vector<model::Node> out;
  for (const SlurmNode& n : *nodes) {
    out.push_back(ToModelNode(n, config_.pool));
    if (idle) idle->push_back(IdleResources(n));
  }
  return out;
}

Result<std::string> SlurmPool::Submit(const model::Job& job) {
  auto request = TranslateToSbatch(job, config_);
  if (!request) return tl::unexpected(request.error());
  auto id = client_->Submit(*request);
  if (!id) {
    Note(id.error());
    return tl::unexpected(id.error());
  }
  unavailable_reason_.clear();
  jobs_[job.id] = Tracked{*id, std::nullopt, 0};
  return *id;
}

void SlurmPool::Adopt(model::JobId job, std::string slurm_id) {
  jobs_[job] = Tracked{std::move(slurm_id), std::nullopt, 0};
}

Result<std::string> SlurmPool::Find(model::JobId job, int attempt) {
  auto id = client_->FindByComment(fmt::format("weft-job={},attempt={}", job, attempt));
  if (!id) {
    Note(id.error());
    return tl::unexpected(id.error());
  }
  if (!id->empty()) Adopt(job, *id);
  return id;
}

std::string SlurmPool::SlurmId(model::JobId job) const {
  const auto it = jobs_.find(job);
  return it == jobs_.end() ? std::string() : it->second.slurm_id;
}

Result<std::vector<SlurmJobUpdate>> SlurmPool::Poll() {
  std::vector<SlurmJobUpdate> updates;
  if (jobs_.empty()) return updates;
  std::vector<std::string> ids;
  for (const auto& [job, t] : jobs_) ids.push_back(t.slurm_id);
  auto found = client_->Query(ids);
  if (!found) {
    Note(found.error());
    return tl::unexpected(found.error());
  }
  unavailable_reason_.clear();
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    Tracked& t = it->second;
    SlurmJobUpdate u;
    u.job = it->first;
    u.slurm_id = t.slurm_id;
    const auto s = found->find(t.slurm_id);
    if (s == found->end()) {
      if (++t.missing < kMissingPolls) {
        ++it;
        continue;
      }
      // Purged (older than MinJobAge) with no accounting to ask, or lost with its controller.
      u.state = model::JobState::kFailed;
      u.reason = fmt::format("Slurm job {} is no longer known to Slurm (squeue and sacct)", t.slurm_id);
      if (t.last) u.nodes = t.last->nodes;
    } else {
      t.missing = 0;
      const SlurmJobStatus& st = s->second;
      u.state = st.state;
      if (model::IsFinal(st.state)) {
        u.exit_code = st.exit.exit_code;
        u.exit_signal = st.exit.signal;
      }
      u.reason = st.reason.empty()
                     ? fmt::format("Slurm job {}: {}", t.slurm_id, st.slurm_state)
                     : fmt::format("Slurm job {}: {} ({})", t.slurm_id, st.slurm_state, st.reason);
      u.nodes = ExpandHostlist(st.nodelist);
    }
    const bool changed =
        !t.last || t.last->state != u.state || t.last->reason != u.reason || t.last->nodes != u.nodes;
    if (changed) updates.push_back(u);
    if (model::IsFinal(u.state)) {
      it = jobs_.erase(it);
    } else {
      t.last = std::move(u);
      ++it;
    }
  }
  return updates;
}

Result<void> SlurmPool::Cancel(model::JobId job, bool only_pending) {
  const auto it = jobs_.find(job);
  if (it == jobs_.end())
    return Fail(ErrorCode::kNotFound, fmt::format("job {} has no Slurm job in pool {}", job, config_.pool));
  auto r = client_->Cancel(it->second.slurm_id, only_pending);
  if (!r) Note(r.error());
  return r;
}

}  // namespace weft::backend
