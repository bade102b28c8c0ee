// submit, run, wait, cancel, logs: the commands that act on jobs.
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "common/strings.h"
#include "model/json.h"
#include "spec/job_spec_parser.h"

extern char** environ;

namespace weft::cli {

using nlohmann::json;

int ReportError(const Error& error, int code) {
  std::fprintf(stderr, "weft: %s\n", error.message.c_str());
  return code;
}

namespace {

spec::SubmitContext CurrentContext() {
  spec::SubmitContext ctx;
  std::error_code ec;
  ctx.submit_dir = std::filesystem::current_path(ec).string();
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    ctx.env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  if (!ctx.env.count("HOSTNAME")) {
    char host[256] = {};
    if (::gethostname(host, sizeof(host) - 1) == 0) ctx.env["HOSTNAME"] = host;
  }
  if (const passwd* pw = ::getpwuid(::getuid())) ctx.user = pw->pw_name;
  return ctx;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kInvalidArgument, fmt::format("cannot read '{}': no such file or not readable", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A fresh idempotency key: 128 random bits, hex.
std::string NewIdempotencyKey() {
  unsigned char raw[16] = {};
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  urandom.read(reinterpret_cast<char*>(raw), sizeof raw);
  std::string key;
  for (unsigned char c : raw) key += fmt::format("{:02x}", c);
  return key;
}

// Submits with an idempotency key and retries, with the same key, while the server cannot be
// reached or answers 503 (a restart, say): a retry of a submission that did land returns the
// job it created, so one `weft submit` never makes two jobs.
Result<long long> SubmitSpec(ApiClient& client, const model::JobSpec& spec) {
  const json body = {{"spec", spec}, {"idempotency_key", NewIdempotencyKey()}};
  auto delay = std::chrono::milliseconds(200);
  for (int attempt = 1;; ++attempt) {
    auto created = client.Post("/v1/jobs", body);
    if (created) return created->at("id").get<long long>();
    const ErrorCode code = created.error().code;
    const bool transient = code == ErrorCode::kUnavailable || code == ErrorCode::kDeadlineExceeded;
    if (!transient || attempt == 6) return tl::unexpected(created.error());
    std::this_thread::sleep_for(delay);  // backoff between retries, not synchronisation
    delay *= 2;
  }
}

// Exit code of a finished job as srun reports it.
int JobExitCode(const json& job) {
  const std::string state = job.value("state", "");
  if (state == "COMPLETED") return 0;
  const int code = job.value("exit_code", 0);
  return code != 0 ? code : 1;
}

bool IsFinalState(const std::string& state) { return state != "PENDING" && state != "RUNNING"; }

// Long-polls until the job has ended and released its nodes (or `deadline` passes).
Result<json> WaitUntilEnded(ApiClient& client, long long id,
                            std::chrono::steady_clock::time_point deadline) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const long long wait_ms = std::clamp<long long>(left.count(), 0, 30000);
    auto job = client.Get(fmt::format("/v1/jobs/{}?wait_ms={}", id, wait_ms), std::chrono::milliseconds(wait_ms + 30000));
    if (!job) return job;
    if (IsFinalState(job->value("state", "")) || wait_ms == 0) return job;
  }
}

// The jobs `id` stands for: every task of the array when `id` is an array job id (tasks
// have consecutive ids from the first, which is the array job id), else `id` alone.
Result<std::vector<long long>> JobsNamedBy(ApiClient& client, long long id) {
  auto job = client.Get(fmt::format("/v1/jobs/{}", id));
  if (!job) return tl::unexpected(job.error());
  std::vector<long long> ids{id};
  if (!job->contains("array_job_id") || (*job)["array_job_id"].is_null() ||
      (*job)["array_job_id"].get<long long>() != id || !job->contains("spec")) {
    return ids;
  }
  auto spec = model::JobSpecFromJson((*job)["spec"]);
  if (!spec) return ids;
  const auto count = static_cast<long long>(spec->array.Indices().size());
  for (long long task = id + 1; task < id + count; ++task) ids.push_back(task);
  return ids;
}

// Waits for every job `id` names (all tasks of an array). The exit code follows sbatch
// --wait: the job's code, or the highest code of any task of an array.
Result<int> WaitForExitCode(ApiClient& client, long long id) {
  auto ids = JobsNamedBy(client, id);
  if (!ids) return tl::unexpected(ids.error());
  int rc = 0;
  for (long long task : *ids) {
    auto job = WaitUntilEnded(client, task, std::chrono::steady_clock::time_point::max());
    if (!job) return tl::unexpected(job.error());
    rc = std::max(rc, JobExitCode(*job));
  }
  return rc;
}

// Copies new bytes of one rank's output to `out`; returns false when that rank is done.
struct LogCursor {
  int rank = 0;
  long long offset = 0;
  bool done = false;
};
Result<bool> Pump(ApiClient& client, long long id, LogCursor& cursor, bool error_stream, FILE* out) {
  while (true) {
    auto r = client.GetRaw(fmt::format("/v1/jobs/{}/logs?rank={}&offset={}{}", id, cursor.rank, cursor.offset,
                                       error_stream ? "&stream=error" : ""));
    if (!r) return tl::unexpected(r.error());
    if (r->status != 200) {
      auto body = model::ParseJson(r->body);
      std::string message = fmt::format("server answered {}", r->status);
      if (body && body->contains("error")) message = (*body)["error"].value("message", message);
      return Fail(ErrorCode::kInvalidArgument, message);
    }
    std::fwrite(r->body.data(), 1, r->body.size(), out);
    std::fflush(out);
    long long next = cursor.offset;
    bool done = false;
    for (const auto& [name, value] : r->headers) {
      if (name == "X-Weft-Offset" || name == "x-weft-offset") next = ParseInt(value).value_or(next);
      if (name == "X-Weft-Done" || name == "x-weft-done") done = value == "1";
    }
    cursor.offset = next;
    cursor.done = done;
    if (r->body.empty() || done) return !done;
  }
}

std::atomic<bool> g_interrupted{false};
void OnInterrupt(int) { g_interrupted = true; }

}  // namespace

int SubmitCommand(const std::vector<std::string>& argv) {
  auto split = spec::SplitSubmitArgs(argv);
  if (!split) return ReportError(split.error(), 2);
  if (split->positional.empty()) {
    return ReportError({ErrorCode::kInvalidArgument, "submit: name a batch script or a job.yaml to submit"}, 2);
  }
  const std::string path = split->positional[0];
  auto text = ReadFile(path);
  if (!text) return ReportError(text.error());
  const std::vector<std::string> args(split->positional.begin() + 1, split->positional.end());
  const bool yaml = path.ends_with(".yaml") || path.ends_with(".yml");
  auto parsed = yaml ? spec::ParseYamlJob(*text, split->options, CurrentContext())
                     : spec::ParseBatchScript(*text, split->options, args, CurrentContext());
  if (!parsed) return ReportError({parsed.error().code, fmt::format("{}: {}", path, parsed.error().message)});
  for (const std::string& warning : parsed->warnings) std::fprintf(stderr, "weft: warning: %s\n", warning.c_str());
  if (parsed->spec.name.empty()) parsed->spec.name = std::filesystem::path(path).filename().string();
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto id = SubmitSpec(**client, parsed->spec);
  if (!id) return ReportError(id.error());
  if (parsed->flags.parsable) {
    std::printf("%lld\n", *id);
  } else {
    std::printf("Submitted batch job %lld\n", *id);
  }
  std::fflush(stdout);
  if (!parsed->flags.wait) return 0;
  auto rc = WaitForExitCode(**client, *id);
  if (!rc) return ReportError(rc.error());
  return *rc;
}

int RunCommand(const std::vector<std::string>& argv) {
  std::vector<std::string> options, command;
  auto dashes = std::find(argv.begin(), argv.end(), "--");
  if (dashes != argv.end()) {
    options.assign(argv.begin(), dashes);
    command.assign(dashes + 1, argv.end());
  } else {
    auto split = spec::SplitSubmitArgs(argv);
    if (!split) return ReportError(split.error(), 2);
    options = split->options;
    command = split->positional;
  }
  if (command.empty()) return ReportError({ErrorCode::kInvalidArgument, "run: give a command after --"}, 2);
  auto parsed = spec::ParseCommandJob(options, command, CurrentContext());
  if (!parsed) return ReportError(parsed.error(), 2);
  for (const std::string& warning : parsed->warnings) std::fprintf(stderr, "weft: warning: %s\n", warning.c_str());
  // srun writes no files: keep the output out of the working directory, under a name no
  // other run (of this or another cluster, whose job ids may repeat) can share.
  std::string run_output;
  if (parsed->spec.output_pattern.empty()) {
    char unique[] = "/tmp/weft-run-XXXXXX";
    const int fd = ::mkstemp(unique);
    if (fd >= 0) ::close(fd);
    run_output = unique;
    parsed->spec.output_pattern = run_output + ".%n.out";
  }
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto id = SubmitSpec(**client, parsed->spec);
  if (!id) return ReportError(id.error());
  ::signal(SIGINT, OnInterrupt);
  ::signal(SIGTERM, OnInterrupt);

  std::vector<LogCursor> cursors;
  bool cancelled = false;
  while (true) {
    if (g_interrupted && !cancelled) {
      std::fprintf(stderr, "weft: cancelling job %lld\n", *id);
      (void)(*client)->Post(fmt::format("/v1/jobs/{}/cancel", *id), json::object());
      cancelled = true;
    }
    auto job = (*client)->Get(fmt::format("/v1/jobs/{}?wait_ms=100", *id));
    if (!job) return ReportError(job.error());
    if (cursors.empty() && job->contains("ranks") && !(*job)["ranks"].empty()) {
      for (std::size_t r = 0; r < (*job)["ranks"].size(); ++r) cursors.push_back({static_cast<int>(r), 0, false});
    }
    for (LogCursor& cursor : cursors) {
      if (cursor.done) continue;
      if (auto pumped = Pump(**client, *id, cursor, false, stdout); !pumped) return ReportError(pumped.error());
    }
    const bool final = IsFinalState(job->value("state", ""));
    const bool all_done = std::all_of(cursors.begin(), cursors.end(), [](const LogCursor& c) { return c.done; });
    if (final && (all_done || cursors.empty())) {
      if (!run_output.empty()) {  // best effort: the files are local when the cluster is
        ::unlink(run_output.c_str());
        for (std::size_t r = 0; r < cursors.size(); ++r) ::unlink(fmt::format("{}.{}.out", run_output, r).c_str());
      }
      if (job->value("state", "") != "COMPLETED") {
        std::fprintf(stderr, "weft: job %lld %s: %s\n", *id, job->value("state", "").c_str(),
                     job->value("reason", "").c_str());
      }
      return JobExitCode(*job);
    }
  }
}

int WaitCommand(const std::vector<long long>& ids, double timeout_seconds) {
  auto client = Connect();
  if (!client) return ReportError(client.error());
  const auto deadline = timeout_seconds > 0
                            ? std::chrono::steady_clock::now() +
                                  std::chrono::milliseconds(static_cast<long long>(timeout_seconds * 1000))
                            : std::chrono::steady_clock::time_point::max();
  std::vector<long long> all;  // an array id stands for all its tasks
  for (long long id : ids) {
    auto named = JobsNamedBy(**client, id);
    if (!named) return ReportError(named.error());
    all.insert(all.end(), named->begin(), named->end());
  }
  int rc = 0;
  for (long long id : all) {
    auto job = WaitUntilEnded(**client, id, deadline);
    if (!job) return ReportError(job.error());
    const std::string state = job->value("state", "");
    if (!IsFinalState(state)) {
      std::fprintf(stderr, "weft: job %lld is still %s\n", id, state.c_str());
      rc = 1;
    } else if (state != "COMPLETED") {
      std::fprintf(stderr, "weft: job %lld ended %s (%s)\n", id, state.c_str(), job->value("reason", "").c_str());
      rc = 1;
    }
  }
  return rc;
}

int CancelCommand(const std::vector<long long>& ids) {
  auto client = Connect();
  if (!client) return ReportError(client.error());
  int rc = 0;
  for (long long id : ids) {
    auto job = (*client)->Post(fmt::format("/v1/jobs/{}/cancel", id), json::object());
    if (!job) rc = ReportError(job.error());
  }
  return rc;
}

int LogsCommand(long long id, int rank, bool follow, bool error_stream) {
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto job = (*client)->Get(fmt::format("/v1/jobs/{}", id));
  if (!job) return ReportError(job.error());
  LogCursor cursor{rank, 0, false};
  while (true) {
    auto more = Pump(**client, id, cursor, error_stream, stdout);
    if (!more) return ReportError(more.error());
    if (!follow || cursor.done) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling interval for -f
  }
}

}  // namespace weft::cli
