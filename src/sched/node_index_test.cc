// The node index and the placements that use it: the index names a superset of the nodes a
// query asks for; filters narrow queries only by what they reject (and Accepts is Filter's
// ok()); the best-fit score's shortcuts give the plain formula; and placing with the index
// gives exactly the placements of a plain scan of every node (random clusters and jobs, fixed
// seeds), never over-allocating a node, every gang whole or not at all.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "sched/gang_placer.h"
#include "sched/node_index.h"
#include "sched/plugins.h"
#include "sched/scheduler.h"
#include "testing/builders.h"

namespace weft::sched {
namespace {

using namespace std::chrono_literals;

const TimePoint kNow = TimePoint{} + 1000s;

// Small random helpers; the same seed gives the same cluster and jobs on every platform.
class Random {
 public:
  explicit Random(std::uint32_t seed) : rng_(seed) {}
  // Uniform in [lo, hi].
  std::int64_t In(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(rng_() % static_cast<std::uint64_t>(hi - lo + 1));
  }
  bool OneIn(int n) { return In(1, n) == 1; }
  template <typename T>
  const T& Pick(const std::vector<T>& from) {
    return from[static_cast<std::size_t>(In(0, static_cast<std::int64_t>(from.size()) - 1))];
  }

 private:
  std::mt19937_64 rng_;
};

const std::vector<std::string> kPools = {"default", "a", "b"};
const std::vector<std::string> kModels = {"", "A100", "H100"};

// A node of a random shape, partly used, sometimes down, with or without topology labels.
NodeView RandomNode(Random& r, int i, bool labelled) {
  NodeView node;
  node.name = "n" + std::string(i < 10 ? "00" : i < 100 ? "0" : "") + std::to_string(i);
  node.pool = r.Pick(kPools);
  node.capacity = {r.In(1, 4) * 16000, r.In(1, 8) << 34,
                   r.OneIn(4) ? 0 : r.Pick<std::int64_t>({4, 8})};
  node.gpu_model = node.capacity.gpus > 0 ? r.Pick(kModels) : "";
  node.gpu_free.assign(static_cast<std::size_t>(node.capacity.gpus), true);
  node.free = node.capacity;
  node.schedulable = !r.OneIn(15);
  if (labelled) {
    node.labels["switch"] = "s" + std::to_string(i / 6);
    node.labels["rack"] = "r" + std::to_string(i / 18);
    if (!r.OneIn(5)) node.labels["zone"] = "z" + std::to_string(i / 36);
  }
  if (r.OneIn(2)) {  // partly used: lowest GPU slots taken, as Commit would
    const model::Resources used{r.In(0, node.capacity.cpu_milli / 1000) * 1000,
                                r.In(0, node.capacity.memory_bytes >> 30) << 30,
                                r.In(0, node.capacity.gpus)};
    node.free -= used;
    for (std::int64_t g = 0; g < used.gpus; ++g) node.gpu_free[static_cast<std::size_t>(g)] = false;
    node.idle = used == model::Resources{};
  }
  return node;
}

PendingJob RandomJob(Random& r, model::JobId id) {
  PendingJob job;
  job.id = id;
  job.num_nodes = static_cast<int>(r.OneIn(2) ? 1 : r.In(2, 6));
  job.per_node = {r.In(1, 24) * 1000, r.OneIn(3) ? 0 : r.In(1, 64) << 30,
                  r.OneIn(3) ? 0 : r.In(1, 8)};
  if (r.OneIn(4)) job.gpu_model = r.Pick(kModels);
  job.exclusive = r.OneIn(10);
  if (r.OneIn(4)) job.pools = {r.Pick(kPools)};
  if (r.OneIn(8)) job.pools = {"a", "b"};
  job.priority = static_cast<int>(r.In(0, 3));
  job.submit_time = TimePoint{} + std::chrono::seconds(r.In(0, 100));
  if (!r.OneIn(6)) job.time_limit = std::chrono::seconds(60 * r.In(1, 120));
  if (r.OneIn(5)) job.topology = r.Pick<std::string>({"switch", "rack", "zone"});
  return job;
}

ClusterSnapshot RandomCluster(Random& r, int nodes, bool labelled) {
  ClusterSnapshot cluster;
  for (int i = 0; i < nodes; ++i) cluster.nodes.push_back(RandomNode(r, i, labelled));
  return cluster;
}

// Whether `node` meets `query` exactly (what the index answers a superset of).
bool Satisfies(const NodeQuery& query, const NodeView& node) {
  if (!query.free_at_least.FitsIn(node.free)) return false;
  if (query.idle && !node.idle) return false;
  if (query.schedulable && !node.schedulable) return false;
  if (query.gpu_model != nullptr && *query.gpu_model != node.gpu_model) return false;
  if (!query.pools.empty() &&
      std::find(query.pools.begin(), query.pools.end(), node.pool) == query.pools.end()) {
    return false;
  }
  return true;
}

std::vector<std::size_t> Named(const NodeIndex& index, const NodeQuery& query) {
  std::vector<std::size_t> out;
  index.ForEach(query, [&](std::size_t i) { out.push_back(i); });
  return out;
}

void ExpectSuperset(const NodeIndex& index, const std::vector<NodeView>& nodes,
                    const NodeQuery& query) {
  const std::vector<std::size_t> named = Named(index, query);
  ASSERT_TRUE(std::is_sorted(named.begin(), named.end()));
  ASSERT_EQ(std::adjacent_find(named.begin(), named.end()), named.end());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (Satisfies(query, nodes[i])) {
      EXPECT_TRUE(std::binary_search(named.begin(), named.end(), i)) << "skipped node " << i;
    }
  }
  for (std::size_t i : named) EXPECT_LT(i, nodes.size());
}

NodeQuery RandomQuery(Random& r, const std::string& model, const std::vector<std::string>& pools) {
  NodeQuery query;
  query.free_at_least = {r.In(-1, 70) * 1000 + r.In(0, 999), r.OneIn(3) ? 0 : r.In(0, 1LL << 37),
                         r.In(-1, 9)};
  query.idle = r.OneIn(5);
  query.schedulable = r.OneIn(2);
  if (r.OneIn(4)) query.gpu_model = &model;
  if (r.OneIn(4)) query.pools = pools;
  return query;
}

TEST(NodeIndexTest, NamesEveryNodeThatMeetsTheQueryThroughUpdates) {
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    Random r(seed);
    std::vector<NodeView> nodes = RandomCluster(r, static_cast<int>(r.In(0, 200)), false).nodes;
    NodeIndex index(nodes);
    ASSERT_TRUE(index.Consistent(nodes));
    const std::vector<std::string> pools = {r.Pick(kPools), "nowhere"};
    for (int step = 0; step < 200; ++step) {
      const std::string model = r.OneIn(8) ? "TPU" : r.Pick(kModels);
      ExpectSuperset(index, nodes, RandomQuery(r, model, pools));
      if (nodes.empty()) break;
      // Any change, even one a cycle never makes (more free than before, past the largest
      // capacity, another pool or model, a node going down).
      const auto i = static_cast<std::size_t>(r.In(0, static_cast<std::int64_t>(nodes.size()) - 1));
      NodeView& node = nodes[i];
      node.free = {r.In(-2, 300) * 1000, r.In(-1, 1LL << 40), r.In(-1, 80)};
      node.idle = r.OneIn(2);
      if (r.OneIn(10)) node.schedulable = !node.schedulable;
      if (r.OneIn(10)) node.pool = r.OneIn(2) ? "brand-new" : r.Pick(kPools);
      if (r.OneIn(10)) node.gpu_model = r.OneIn(2) ? "TPU" : r.Pick(kModels);
      index.Update(i, node);
      ASSERT_TRUE(index.Consistent(nodes)) << "seed " << seed << " step " << step;
      if (r.OneIn(3)) continue;  // let several updates pass between questions
      std::int64_t max_cpu = 0;
      for (const NodeView& n : nodes) {
        if (n.schedulable) max_cpu = std::max(max_cpu, n.free.cpu_milli);
      }
      ASSERT_EQ(index.MaxFreeCpu(), max_cpu) << "seed " << seed << " step " << step;
    }
  }
}

TEST(NodeIndexTest, TightQueriesNameFewNodes) {
  // 100 nodes with 0..7 free GPUs: asking for 7 names only the nodes with 7 free.
  std::vector<NodeView> nodes;
  for (int i = 0; i < 100; ++i) {
    NodeView node = testing::NodeBuilder("n" + std::to_string(i)).Cpus(64).Gpus(8).Build();
    node.free.gpus = i % 8;
    nodes.push_back(node);
  }
  const NodeIndex index(nodes);
  NodeQuery query;
  query.free_at_least.gpus = 7;
  const std::vector<std::size_t> named = Named(index, query);
  ASSERT_EQ(named.size(), 12u);
  for (std::size_t i : named) EXPECT_EQ(i % 8, 7u);
}

TEST(NodeIndexTest, MaxFreeCpuFollowsTiesAtTheTop) {
  std::vector<NodeView> nodes;
  for (int i = 0; i < 4; ++i) {
    nodes.push_back(testing::NodeBuilder("n" + std::to_string(i)).Cpus(64).Build());
  }
  nodes.push_back(testing::NodeBuilder("down").Cpus(128).Down().Build());
  NodeIndex index(nodes);
  EXPECT_EQ(index.MaxFreeCpu(), 64000);  // the down node does not count
  for (int i = 0; i < 4; ++i) {
    nodes[static_cast<std::size_t>(i)].free.cpu_milli = 1000 * (10 + i);
    index.Update(static_cast<std::size_t>(i), nodes[static_cast<std::size_t>(i)]);
    EXPECT_EQ(index.MaxFreeCpu(), i < 3 ? 64000 : 13000) << i;
  }
  nodes[4].schedulable = true;  // back up
  index.Update(4, nodes[4]);
  EXPECT_EQ(index.MaxFreeCpu(), 128000);
}

TEST(FilterPluginTest, AcceptsIsFilterOkAndNarrowKeepsEveryAcceptedNode) {
  const NodeAvailableFilter available;
  const ResourceFitFilter fit;
  const std::vector<const FilterPlugin*> filters = {&available, &fit};
  for (std::uint32_t seed = 1; seed <= 10; ++seed) {
    Random r(seed);
    const ClusterSnapshot cluster = RandomCluster(r, 100, false);
    const NodeIndex index(cluster.nodes);
    for (int j = 0; j < 100; ++j) {
      const PendingJob job = RandomJob(r, j + 1);
      NodeQuery all;
      for (const FilterPlugin* filter : filters) filter->Narrow(job, all);
      const std::vector<std::size_t> named = Named(index, all);
      for (std::size_t i = 0; i < cluster.nodes.size(); ++i) {
        const NodeView& node = cluster.nodes[i];
        bool accepted = true;
        for (const FilterPlugin* filter : filters) {
          const bool ok = filter->Filter(job, node).ok();
          ASSERT_EQ(filter->Accepts(job, node), ok) << filter->name();
          NodeQuery own;
          filter->Narrow(job, own);
          if (ok) {
            EXPECT_TRUE(Satisfies(own, node)) << filter->name() << " narrowed too far";
          }
          accepted = accepted && ok;
        }
        if (accepted) {
          EXPECT_TRUE(std::binary_search(named.begin(), named.end(), i));
        }
      }
    }
  }
}

TEST(BestFitScoreTest, ShortcutsGiveTheIntegerFormula) {
  // The score as first written: per resource min(100, want · 100 / free), 100 when nothing
  // is free; GPUs count twice on GPU nodes.
  auto reference = [](const PendingJob& job, const NodeView& node) -> std::int64_t {
    auto share = [](std::int64_t want, std::int64_t free) -> std::int64_t {
      return free <= 0 ? 100 : std::min<std::int64_t>(100, want * 100 / free);
    };
    const std::int64_t gpu = share(job.per_node.gpus, node.free.gpus);
    const std::int64_t cpu = share(job.per_node.cpu_milli, node.free.cpu_milli);
    const std::int64_t mem = share(job.per_node.memory_bytes, node.free.memory_bytes);
    return node.capacity.gpus > 0 ? (gpu * 2 + cpu + mem) / 4 : (cpu + mem) / 2;
  };
  const BestFitScore score;
  Random r(7);
  for (int k = 0; k < 200000; ++k) {
    PendingJob job;
    NodeView node;
    node.capacity.gpus = r.In(0, 8);
    // Mostly quotients near an integer (and near 0 and 100), where a shortcut would show.
    const std::int64_t scale = r.Pick<std::int64_t>({1, 1000, 1LL << 30, 1LL << 40, 1LL << 45});
    auto pick = [&](std::int64_t& want, std::int64_t& free) {
      free = r.In(-2, 1000) * scale + r.In(-1, 1);
      if (free <= 0) {
        want = r.In(-1, 3);
      } else if (r.OneIn(4)) {
        want = r.In(-5, free);
      } else {
        want = free * r.In(0, 101) / 100 + r.In(-1, 1);
      }
    };
    pick(job.per_node.cpu_milli, node.free.cpu_milli);
    pick(job.per_node.memory_bytes, node.free.memory_bytes);
    pick(job.per_node.gpus, node.free.gpus);
    ASSERT_EQ(score.Score(job, node), reference(job, node))
        << job.per_node.cpu_milli << "/" << node.free.cpu_milli << " "
        << job.per_node.memory_bytes << "/" << node.free.memory_bytes << " " << job.per_node.gpus
        << "/" << node.free.gpus;
  }
}

// All or nothing: a start has one rank per node of the gang, on distinct nodes.
void ExpectWholeGang(const PendingJob& job, const model::Allocation& allocation) {
  ASSERT_EQ(allocation.ranks.size(), static_cast<std::size_t>(job.num_nodes));
  std::set<std::string> nodes;
  for (const model::NodeAllocation& rank : allocation.ranks) nodes.insert(rank.node);
  EXPECT_EQ(nodes.size(), allocation.ranks.size()) << "ranks share a node";
}

// No node over-allocated: nothing free is negative, and the free GPU slots are as many as the
// free GPUs (a slot is never handed out twice).
void ExpectValidCluster(const ClusterSnapshot& cluster) {
  for (const NodeView& node : cluster.nodes) {
    EXPECT_GE(node.free.cpu_milli, 0) << node.name;
    EXPECT_GE(node.free.memory_bytes, 0) << node.name;
    EXPECT_GE(node.free.gpus, 0) << node.name;
    EXPECT_EQ(std::count(node.gpu_free.begin(), node.gpu_free.end(), true), node.free.gpus)
        << node.name;
  }
}

TEST(PlacementEquivalenceTest, IndexedPlacementIsThePlainScan) {
  const Profile profile = DefaultProfile();
  const GangPlacer placer(profile.filters, profile.scorers);
  int starts = 0, gangs = 0;
  for (std::uint32_t seed = 1; seed <= 30; ++seed) {
    Random r(seed);
    const ClusterSnapshot cluster = RandomCluster(r, static_cast<int>(r.In(1, 120)), seed % 3 != 0);
    ClusterSnapshot scanned = cluster;
    ClusterSnapshot indexed = cluster;
    NodeIndex index(indexed.nodes);
    for (int j = 0; j < 150; ++j) {
      const PendingJob job = RandomJob(r, j + 1);
      // `also` as backfill uses it: one more filter on node indices.
      const auto banned = static_cast<std::size_t>(r.In(0, 6));
      std::function<bool(std::size_t)> also;
      if (r.OneIn(3)) also = [banned](std::size_t i) { return i % 7 != banned; };
      const auto want = placer.Place(job, scanned, also);
      const auto got = placer.Place(job, indexed, also, &index);
      ASSERT_EQ(want, got) << "seed " << seed << " job " << job.id;
      if (!want) continue;
      ++starts;
      if (job.num_nodes > 1) ++gangs;
      const model::Allocation a = GangPlacer::Commit(job, *want, scanned);
      const model::Allocation b = GangPlacer::Commit(job, *got, indexed, &index);
      ExpectWholeGang(job, b);
      ASSERT_EQ(a.ranks.size(), b.ranks.size());
      for (std::size_t k = 0; k < a.ranks.size(); ++k) {
        EXPECT_EQ(a.ranks[k].node, b.ranks[k].node);
        EXPECT_EQ(a.ranks[k].gpu_ids, b.ranks[k].gpu_ids);
      }
      ASSERT_TRUE(index.Consistent(indexed.nodes));
      ExpectValidCluster(indexed);
    }
  }
  // The random jobs do exercise placement, gangs included.
  EXPECT_GT(starts, 500);
  EXPECT_GT(gangs, 100);
}

// A filter the index knows nothing about: it forwards to `inner` but narrows nothing, so a
// scheduler built from these scans every node.
class Opaque final : public FilterPlugin {
 public:
  explicit Opaque(std::unique_ptr<FilterPlugin> inner) : inner_(std::move(inner)) {}
  std::string_view name() const override { return inner_->name(); }
  Verdict Filter(const PendingJob& job, const NodeView& node) const override {
    return inner_->Filter(job, node);
  }

 private:
  std::unique_ptr<FilterPlugin> inner_;
};

Profile ScanningProfile(int depth) {
  Profile profile = DefaultProfile();
  for (auto& filter : profile.filters) filter = std::make_unique<Opaque>(std::move(filter));
  profile.reservation_depth = depth;
  return profile;
}

TEST(PlacementEquivalenceTest, CyclesDecideAsWithAPlainScan) {
  int starts = 0, reservations = 0;
  for (std::uint32_t seed = 1; seed <= 24; ++seed) {
    Random r(seed);
    ClusterSnapshot cluster = RandomCluster(r, static_cast<int>(r.In(1, 150)), seed % 2 == 0);
    // Running jobs with known ends on some nodes, so backfill plans around them.
    for (std::size_t i = 0; i < cluster.nodes.size(); i += 3) {
      const NodeView& node = cluster.nodes[i];
      const model::Resources take{node.free.cpu_milli / 2, node.free.memory_bytes / 2,
                                  node.free.gpus / 2};
      std::optional<TimePoint> end;  // none: held for ever
      if (!r.OneIn(5)) end = kNow + std::chrono::seconds(r.In(1, 7200));
      testing::AddRunning(cluster, 100000 + static_cast<model::JobId>(i), {node.name}, take, end);
    }
    std::vector<PendingJob> pending;
    for (int j = 0; j < 300; ++j) pending.push_back(RandomJob(r, j + 1));
    for (int depth : {0, 1, 1000}) {
      Profile profile = DefaultProfile();
      profile.reservation_depth = depth;
      const Scheduler indexed(std::move(profile));
      const Scheduler scanning(ScanningProfile(depth));
      const CycleResult got = indexed.RunCycle(cluster, pending, kNow);
      const CycleResult want = scanning.RunCycle(cluster, pending, kNow);
      ASSERT_EQ(got.starts.size(), want.starts.size()) << "seed " << seed << " depth " << depth;
      for (std::size_t s = 0; s < want.starts.size(); ++s) {
        EXPECT_EQ(got.starts[s].job_id, want.starts[s].job_id);
        ASSERT_EQ(got.starts[s].allocation.ranks.size(), want.starts[s].allocation.ranks.size());
        for (std::size_t k = 0; k < want.starts[s].allocation.ranks.size(); ++k) {
          const auto& g = got.starts[s].allocation.ranks[k];
          const auto& w = want.starts[s].allocation.ranks[k];
          EXPECT_EQ(g.node, w.node);
          EXPECT_EQ(g.gpu_ids, w.gpu_ids);
          EXPECT_EQ(g.resources, w.resources);
        }
      }
      ASSERT_EQ(got.reservations.size(), want.reservations.size());
      for (std::size_t k = 0; k < want.reservations.size(); ++k) {
        EXPECT_EQ(got.reservations[k].job_id, want.reservations[k].job_id);
        EXPECT_EQ(got.reservations[k].start, want.reservations[k].start);
        EXPECT_EQ(got.reservations[k].nodes, want.reservations[k].nodes);
      }
      ASSERT_EQ(got.still_pending.size(), want.still_pending.size());
      for (std::size_t k = 0; k < want.still_pending.size(); ++k) {
        EXPECT_EQ(got.still_pending[k].job_id, want.still_pending[k].job_id);
        EXPECT_EQ(got.still_pending[k].reason, want.still_pending[k].reason);
      }
      // Replaying the starts on the snapshot: each gang whole on distinct nodes, no node
      // over-allocated, GPU slots taken only when free.
      std::map<std::string, std::size_t> by_name;
      for (std::size_t i = 0; i < cluster.nodes.size(); ++i) by_name[cluster.nodes[i].name] = i;
      std::map<model::JobId, const PendingJob*> jobs;
      for (const PendingJob& job : pending) jobs[job.id] = &job;
      ClusterSnapshot after = cluster;
      for (const StartDecision& start : got.starts) {
        const PendingJob& job = *jobs.at(start.job_id);
        ExpectWholeGang(job, start.allocation);
        for (const model::NodeAllocation& rank : start.allocation.ranks) {
          NodeView& node = after.nodes[by_name.at(rank.node)];
          node.free -= rank.resources;
          for (int g : rank.gpu_ids) {
            ASSERT_TRUE(node.gpu_free.at(static_cast<std::size_t>(g))) << "GPU slot taken twice";
            node.gpu_free[static_cast<std::size_t>(g)] = false;
          }
        }
      }
      ExpectValidCluster(after);
      starts += static_cast<int>(got.starts.size());
      reservations += static_cast<int>(got.reservations.size());
    }
  }
  EXPECT_GT(starts, 500);
  EXPECT_GT(reservations, 50);
}

}  // namespace
}  // namespace weft::sched
