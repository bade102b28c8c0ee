#include "lb/picker.h"

#include <string>

namespace weft::lb {

std::optional<std::size_t> RoundRobinPicker::Pick(std::span<const EndpointLoad> endpoints) {
  const std::size_t n = endpoints.size();
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (next_ + k) % n;
    if (endpoints[i].is_ready) {
      next_ = i + 1;
      return i;
    }
  }
  return std::nullopt;
}

std::optional<std::size_t> LeastOutstandingPicker::Pick(std::span<const EndpointLoad> endpoints) {
  const std::size_t n = endpoints.size();
  std::optional<std::size_t> best;
  // Scanning from the rotating start and keeping the first strict minimum breaks ties
  // round-robin.
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (next_ + k) % n;
    if (!endpoints[i].is_ready) continue;
    if (!best || endpoints[i].outstanding < endpoints[*best].outstanding) best = i;
  }
  if (best) next_ = *best + 1;
  return best;
}

std::optional<std::size_t> PowerOfTwoChoicesPicker::Pick(
    std::span<const EndpointLoad> endpoints) {
  std::size_t ready = 0;
  for (const EndpointLoad& e : endpoints) ready += e.is_ready ? 1 : 0;
  if (ready == 0) return std::nullopt;
  // The r-th ready backend, in order.
  auto nth_ready = [&](std::size_t r) {
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      if (endpoints[i].is_ready && r-- == 0) return i;
    }
    return endpoints.size();  // unreachable: r < ready
  };
  if (ready == 1) return nth_ready(0);
  const std::size_t a = static_cast<std::size_t>(rng_() % ready);
  std::size_t b = static_cast<std::size_t>(rng_() % (ready - 1));
  if (b >= a) ++b;  // distinct from a, uniformly
  const std::size_t first = nth_ready(a);
  const std::size_t second = nth_ready(b);
  return endpoints[second].outstanding < endpoints[first].outstanding ? second : first;
}

Result<std::unique_ptr<Picker>> MakePicker(std::string_view name, std::uint64_t seed) {
  if (name == "round_robin") return std::make_unique<RoundRobinPicker>();
  if (name == "least_outstanding") return std::make_unique<LeastOutstandingPicker>();
  if (name == "power_of_two") return std::make_unique<PowerOfTwoChoicesPicker>(seed);
  return Fail(ErrorCode::kInvalidArgument,
              "picker: unknown load-balancing policy \"" + std::string(name) +
                  "\"; expected round_robin, least_outstanding or power_of_two");
}

}  // namespace weft::lb
