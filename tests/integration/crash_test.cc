// Crash injection under load: 50 clients submit, query and cancel over the REST API while the
// server is killed with SIGKILL at random moments, ten times, and restarted on the same state
// dir and port. Afterwards: every acknowledged submission exists (once: retries carry the same
// idempotency key), no job whose cancel was acknowledged runs after it, no job ran twice
// (concurrently or at all: the jobs do not requeue), and every job ends as it would have
// without the crashes (COMPLETED, or CANCELLED when its cancel was acknowledged).
//
// Each rank appends "start <attempt> <ns>" and "end <attempt> <ns>" to marks/<job id>.<rank>;
// a fifth of the jobs are 2-node gangs.
// Knobs (bench/crash_injection.sh sets them): WEFT_CRASH_SEED, WEFT_CRASH_CLIENTS (50),
// WEFT_CRASH_KILLS (10), WEFT_CRASH_JOBS_PER_CLIENT (8), WEFT_CRASH_AGENTS (3),
// WEFT_CRASH_BUDGET_S (75: how long clients may retry, and the drain's bound),
// WEFT_CRASH_GAP_MS (2500: kills come 300 ms to this long after the previous restart),
// WEFT_CRASH_JOB_MS (200: how long each job sleeps), and
// WEFT_CRASH_NO_KEYS=1, the negative control: submissions without idempotency keys, whose
// retries after a lost answer then make duplicates that the test reports.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "local_cluster.h"
#include "net/http.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

long long EnvInt(const char* name, long long fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atoll(value) : fallback;
}

long long NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Acked {
  std::string name;
  long long id = 0;
  int nodes = 1;
};

struct CancelAck {
  long long id = 0;
  long long at_ns = 0;  // wall clock when the client knew the cancel had landed
};

// What the clients saw; guarded by `mu`.
struct Ledger {
  std::mutex mu;
  std::vector<Acked> acked;
  std::set<std::string> sent_names;  // every submission sent, acknowledged or not
  std::vector<CancelAck> cancels;
  std::set<long long> cancel_sent;  // every job a cancel was sent for
  std::vector<std::string> errors;  // answers no correct server gives
  long long requests = 0, transport_errors = 0, lost_in_flight = 0;
};

bool Transient(const Result<net::HttpResponse>& r) { return !r || r->status == 503; }

// One client: a random mix of submit (with an idempotency key, retried with the same key until
// answered), query, and cancel of one of its own jobs.
void RunClient(int index, unsigned seed, const std::string& url, const std::string& token, const std::string& script,
               const std::string& work_dir, int max_jobs, const std::atomic<bool>& stop,
               SteadyClock::time_point give_up, Ledger& ledger) {
  std::mt19937 rng(seed * 1000003u + static_cast<unsigned>(index));
  net::HttpClient http(url, token);
  std::vector<long long> mine;
  std::vector<long long> to_cancel;  // about 30% of its jobs, picked at submission
  int submitted = 0;
  auto count = [&](const Result<net::HttpResponse>& r) {
    std::lock_guard lock(ledger.mu);
    ++ledger.requests;
    if (!r) ++ledger.transport_errors;
  };
  auto backoff = [&] { std::this_thread::sleep_for(std::chrono::milliseconds(30 + rng() % 70)); };
  auto error = [&](const std::string& what) {
    std::lock_guard lock(ledger.mu);
    ledger.errors.push_back(what);
  };
  auto cancel_acked = [&](long long id) {
    std::lock_guard lock(ledger.mu);
    ledger.cancels.push_back({id, NowNs()});
  };
  while (!stop) {
    // Think time: each client's submissions spread over the whole crash phase.
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 400));
    const unsigned roll = rng() % 100;
    if (submitted < max_jobs && (mine.empty() || roll < 30)) {
      const std::string name = "c" + std::to_string(index) + "s" + std::to_string(submitted++);
      const int nodes = rng() % 100 < 20 ? 2 : 1;  // some gangs: both ranks, or none, run
      const nlohmann::json body = {
          {"spec",
           {{"name", name}, {"script", script}, {"submit_dir", work_dir}, {"work_dir", work_dir},
            {"num_nodes", nodes}, {"resources", {{"cpu_milli", 1000}}}}},
          {"idempotency_key", EnvInt("WEFT_CRASH_NO_KEYS", 0) ? "" : "crash-" + std::to_string(seed) + "-" + name}};
      {
        std::lock_guard lock(ledger.mu);
        ledger.sent_names.insert(name);
      }
      // Retried, with the same key, until answered: also after `stop` (the submission may
      // have landed), until `give_up`.
      while (SteadyClock::now() < give_up) {
        auto r = http.Post("/v1/jobs", body.dump(), 10s);
        count(r);
        if (Transient(r)) {
          backoff();
          continue;
        }
        if (r->status != 201) {
          error("submit " + name + ": HTTP " + std::to_string(r->status) + " " + r->body);
          break;
        }
        const long long id = nlohmann::json::parse(r->body, nullptr, false).value("id", 0LL);
        std::lock_guard lock(ledger.mu);
        ledger.acked.push_back({name, id, nodes});
        mine.push_back(id);
        if (rng() % 100 < 30) to_cancel.push_back(id);
        break;
      }
    } else if (!to_cancel.empty() && roll >= 85) {
      const std::size_t pick = rng() % to_cancel.size();
      const long long id = to_cancel[pick];
      to_cancel.erase(to_cancel.begin() + static_cast<std::ptrdiff_t>(pick));  // one cancel per job
      {
        std::lock_guard lock(ledger.mu);
        ledger.cancel_sent.insert(id);
      }
      bool retried = false;
      while (SteadyClock::now() < give_up) {
        auto r = http.Post("/v1/jobs/" + std::to_string(id) + "/cancel", "", 10s);
        count(r);
        if (Transient(r)) {
          retried = true;
          backoff();
          continue;
        }
        if (r->status == 200) {
          cancel_acked(id);
        } else if (r->status == 412 && retried) {
          // An earlier try may have landed before the connection broke: ask what it is now.
          auto job = http.Get("/v1/jobs/" + std::to_string(id), 10s);
          count(job);
          if (job && job->status == 200 &&
              nlohmann::json::parse(job->body, nullptr, false).value("state", "") == "CANCELLED") {
            cancel_acked(id);
          }
        } else if (r->status != 412) {  // 412: it had ended already
          error("cancel " + std::to_string(id) + ": HTTP " + std::to_string(r->status) + " " + r->body);
        }
        break;
      }
    } else if (!mine.empty()) {
      const long long id = mine[rng() % mine.size()];
      auto r = http.Get("/v1/jobs/" + std::to_string(id), 10s);
      count(r);
      if (r && r->status == 404) {
        std::lock_guard lock(ledger.mu);
        ++ledger.lost_in_flight;  // an acknowledged job the server did not know
        ledger.errors.push_back("GET acknowledged job " + std::to_string(id) + ": 404 " + r->body);
      } else if (r && r->status != 200 && r->status != 503) {
        error("GET job " + std::to_string(id) + ": HTTP " + std::to_string(r->status));
      }
    }
  }
}

struct Mark {
  std::string kind;  // start | end
  int attempt = 0;
  long long at_ns = 0;
};

std::vector<Mark> ReadMarks(const std::string& path) {
  std::vector<Mark> marks;
  std::istringstream lines(ReadFile(path));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    Mark m;
    if (words >> m.kind >> m.attempt >> m.at_ns) marks.push_back(m);
  }
  return marks;
}

TEST(CrashTest, FiftyClientsAndTenKillNinesLoseNothingAndRunNothingTwice) {
  const unsigned seed = static_cast<unsigned>(EnvInt("WEFT_CRASH_SEED", std::random_device{}() % 1000000));
  const int clients = static_cast<int>(EnvInt("WEFT_CRASH_CLIENTS", 50));
  const int kills = static_cast<int>(EnvInt("WEFT_CRASH_KILLS", 10));
  const int jobs_per_client = static_cast<int>(EnvInt("WEFT_CRASH_JOBS_PER_CLIENT", 8));
  const int agents = static_cast<int>(EnvInt("WEFT_CRASH_AGENTS", 3));
  const auto budget = std::chrono::seconds(EnvInt("WEFT_CRASH_BUDGET_S", 75));
  const long long job_ms = std::max(1LL, EnvInt("WEFT_CRASH_JOB_MS", 200));
  const unsigned max_gap_ms = static_cast<unsigned>(std::max(301LL, EnvInt("WEFT_CRASH_GAP_MS", 2500)));
  std::printf("crash-injection: seed=%u clients=%d kills=%d jobs_per_client=%d (rerun: WEFT_CRASH_SEED=%u)\n", seed,
              clients, kills, jobs_per_client, seed);
  std::fflush(stdout);

  LocalCluster cluster(agents, AgentSpec{4, "4G", 0});
  ASSERT_FALSE(HasFailure());
  const std::string marks = cluster.dir() + "/marks";
  std::filesystem::create_directories(marks);
  const std::string script = "#!/bin/sh\nM=" + marks +
                             "/$WEFT_JOB_ID.$WEFT_NODE_RANK\n"
                             "echo \"start $WEFT_RESTART_COUNT $(date +%s%N)\" >> $M\n"
                             "trap 'echo \"end $WEFT_RESTART_COUNT $(date +%s%N) killed\" >> $M; exit 143' TERM\n"
                             "sleep " + std::to_string(job_ms / 1000.0) + "\n"
                             "echo \"end $WEFT_RESTART_COUNT $(date +%s%N)\" >> $M\n";

  Ledger ledger;
  std::atomic<bool> stop{false};
  const std::string url = cluster.url(), token = cluster.token();
  const auto give_up = SteadyClock::now() + budget;  // hard bound for client retries
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      RunClient(c, seed, url, token, script, cluster.work_dir(), jobs_per_client, stop, give_up, ledger);
    });
  }

  // Kill -9 at random moments, restart on the same state dir and port.
  std::mt19937 chaos(seed);
  std::vector<double> restart_s;
  for (int k = 0; k < kills && !HasFatalFailure(); ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + chaos() % (max_gap_ms - 300)));  // the random moment
    cluster.KillServer(SIGKILL);
    const auto begin = SteadyClock::now();
    cluster.StartServer();
    restart_s.push_back(std::chrono::duration<double>(SteadyClock::now() - begin).count());
  }
  // Clients go on for a moment against the last server, then stop (their retries finish).
  if (!HasFatalFailure()) std::this_thread::sleep_for(1s);
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_FALSE(HasFatalFailure()) << "a restart failed";

  // Every job ends (none requeues).
  const bool drained = PollUntil(
      [&] {
        const nlohmann::json live = cluster.Get("/v1/jobs?state=PENDING,RUNNING");
        return live.contains("jobs") && live["jobs"].empty();
      },
      budget);
  EXPECT_TRUE(drained) << cluster.Get("/v1/jobs?state=PENDING,RUNNING").dump();

  std::lock_guard lock(ledger.mu);
  for (const auto& e : ledger.errors) ADD_FAILURE() << e;
  // 1. Every acknowledged submission exists, exactly once.
  const nlohmann::json all = cluster.Get("/v1/jobs");
  std::map<long long, nlohmann::json> by_id;
  std::map<std::string, int> per_name;
  for (const auto& j : all["jobs"]) {
    by_id[j["id"].get<long long>()] = j;
    ++per_name[j.value("name", "")];
  }
  int found = 0, duplicates = 0, strangers = 0;
  for (const Acked& a : ledger.acked) {
    auto it = by_id.find(a.id);
    if (it != by_id.end() && it->second.value("name", "") == a.name) {
      ++found;
    } else {
      ADD_FAILURE() << "acknowledged job " << a.id << " (" << a.name << ") is missing";
    }
  }
  for (const auto& [name, n] : per_name) {
    if (!ledger.sent_names.count(name)) ++strangers;
    if (n > 1) {
      duplicates += n - 1;
      ADD_FAILURE() << "submission " << name << " created " << n << " jobs";
    }
  }
  EXPECT_EQ(strangers, 0);

  // 2. No job whose cancel was acknowledged runs after it.
  std::map<long long, long long> cancel_at;
  for (const CancelAck& c : ledger.cancels) cancel_at[c.id] = c.at_ns;
  int cancelled_but_ran = 0, double_runs = 0, concurrent_runs = 0, wrong_state = 0;
  constexpr long long kLaunchSlackNs = 1'000'000'000;  // a launch already under way at the ack
  for (const Acked& a : ledger.acked) {
    const auto it = by_id.find(a.id);
    if (it == by_id.end()) continue;
    const nlohmann::json& job = it->second;
    const std::string state = job.value("state", "");
    // Per rank: how often it started, whether a start came while the last had not ended.
    int starts = 0;  // the most any rank started
    bool overlap = false, each_rank_once = true;
    long long last_start = 0;
    std::string all_marks;
    for (int rank = 0; rank < a.nodes; ++rank) {
      const std::string path = marks + "/" + std::to_string(a.id) + "." + std::to_string(rank);
      all_marks += "rank " + std::to_string(rank) + ":\n" + ReadFile(path);
      int rank_starts = 0, open = 0;
      for (const Mark& m : ReadMarks(path)) {
        if (m.kind == "start") {
          ++rank_starts;
          if (open > 0) overlap = true;
          ++open;
          last_start = std::max(last_start, m.at_ns);
        } else if (m.kind == "end" && open > 0) {
          --open;
        }
      }
      starts = std::max(starts, rank_starts);
      each_rank_once = each_rank_once && rank_starts == 1 && open == 0;
    }
    if (starts > 1) {
      ++double_runs;
      ADD_FAILURE() << "job " << a.id << " ran " << starts << " times: " << all_marks;
    }
    if (overlap) ++concurrent_runs;
    if (auto c = cancel_at.find(a.id); c != cancel_at.end()) {
      // Never placed before the cancel (no start_time) yet ran, or started after the ack.
      const bool ran_after = starts > 0 && (job["start_time"].is_null() || last_start > c->second + kLaunchSlackNs);
      if (state != "CANCELLED" || ran_after) {
        ++cancelled_but_ran;
        ADD_FAILURE() << "job " << a.id << " cancelled at " << c->second << " is " << state
                      << ", marks: " << all_marks;
      }
    } else if (state != "COMPLETED" || !each_rank_once) {
      // Not cancelled by the clients: it completes, once (a cancel whose answer was lost
      // may end it CANCELLED: that is the state the client asked for).
      if (state != "CANCELLED" || !ledger.cancel_sent.count(a.id)) {
        ++wrong_state;
        ADD_FAILURE() << "job " << a.id << " ended " << state << ", marks: " << all_marks << job.dump();
      }
    }
  }
  double slowest_restart = 0;
  for (double s : restart_s) slowest_restart = std::max(slowest_restart, s);
  std::printf(
      "crash-injection: seed=%u kills=%zu requests=%lld transport_errors=%lld acknowledged=%zu found=%d "
      "duplicates=%d cancels_acknowledged=%zu cancelled_but_ran=%d double_runs=%d concurrent_runs=%d "
      "wrong_state=%d lost_in_flight=%lld slowest_restart_s=%.2f\n",
      seed, restart_s.size(), ledger.requests, ledger.transport_errors, ledger.acked.size(), found, duplicates,
      cancel_at.size(), cancelled_but_ran, double_runs, concurrent_runs, wrong_state, ledger.lost_in_flight,
      slowest_restart);
  std::fflush(stdout);
  EXPECT_EQ(found, static_cast<int>(ledger.acked.size()));
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(cancelled_but_ran, 0);
  EXPECT_EQ(double_runs, 0);
  EXPECT_EQ(concurrent_runs, 0);
  EXPECT_EQ(wrong_state, 0);
  EXPECT_EQ(static_cast<int>(restart_s.size()), kills);
  EXPECT_GT(ledger.acked.size(), static_cast<std::size_t>(clients));  // the load was real
  EXPECT_GT(cancel_at.size(), 0u);
}

}  // namespace
}  // namespace weft::testing
