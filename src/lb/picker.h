// Load-balancing policies of the inference load balancer: choose one backend among the ready
// ones for the next request. Pure and single-threaded: each proxy worker owns its own Picker.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string_view>

#include "common/error.h"

namespace weft::lb {

// What a picker may look at for one backend, in the caller's backend order.
struct EndpointLoad {
  bool is_ready = false;         // only ready backends may be picked
  std::int64_t outstanding = 0;  // requests in flight on it now (all workers together)
};

class Picker {
 public:
  virtual ~Picker() = default;
  // Index into `endpoints` of the backend for the next request, or nullopt when none is
  // ready. Never returns a backend whose `is_ready` is false. Not thread-safe.
  virtual std::optional<std::size_t> Pick(std::span<const EndpointLoad> endpoints) = 0;
};

// Takes turns over the ready backends.
class RoundRobinPicker final : public Picker {
 public:
  std::optional<std::size_t> Pick(std::span<const EndpointLoad> endpoints) override;

 private:
  std::size_t next_ = 0;
};

// Fewest outstanding requests wins; ties go round-robin so that idle backends share the load.
class LeastOutstandingPicker final : public Picker {
 public:
  std::optional<std::size_t> Pick(std::span<const EndpointLoad> endpoints) override;

 private:
  std::size_t next_ = 0;
};

// Two distinct ready backends drawn at random; the one with fewer outstanding requests wins
// (the first drawn on a tie). Seeded, so tests are deterministic.
class PowerOfTwoChoicesPicker final : public Picker {
 public:
  explicit PowerOfTwoChoicesPicker(std::uint64_t seed) : rng_(seed) {}
  std::optional<std::size_t> Pick(std::span<const EndpointLoad> endpoints) override;

 private:
  std::mt19937_64 rng_;
};

// "round_robin", "least_outstanding" or "power_of_two" (seeded with `seed`). Fails with
// kInvalidArgument naming the `picker` field for any other name.
Result<std::unique_ptr<Picker>> MakePicker(std::string_view name, std::uint64_t seed = 0);

}  // namespace weft::lb
