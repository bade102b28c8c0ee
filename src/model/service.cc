#include "model/service.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace weft::model {

using nlohmann::json;

namespace {

// A decoding error naming its field (kept local: json.cc's helpers are private to it).
struct BadField {
  std::string message;
};

const json* Find(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

void Str(const json& j, const char* key, std::string& out) {
  if (const json* v = Find(j, key)) {
    if (!v->is_string()) throw BadField{fmt::format("field '{}': must be a string", key)};
    out = v->get<std::string>();
  }
}

void Bool(const json& j, const char* key, bool& out) {
  if (const json* v = Find(j, key)) {
    if (!v->is_boolean()) throw BadField{fmt::format("field '{}': must be true or false", key)};
    out = v->get<bool>();
  }
}

template <class Int>
void Integer(const json& j, const char* key, Int& out) {
  const json* v = Find(j, key);
  if (!v) return;
  constexpr auto kMin = std::numeric_limits<Int>::min();
  constexpr auto kMax = std::numeric_limits<Int>::max();
  bool ok = false;
  std::int64_t value = 0;
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    ok = u <= static_cast<std::uint64_t>(kMax);
    value = ok ? static_cast<std::int64_t>(u) : 0;
  } else if (v->is_number_integer()) {
    value = v->get<std::int64_t>();
    ok = value >= static_cast<std::int64_t>(kMin) && value <= static_cast<std::int64_t>(kMax);
  } else if (v->is_number_float()) {
    const double d = v->get<double>();
    // Within +-2^62 the cast is defined; the range check below does the rest.
    ok = std::trunc(d) == d && std::fabs(d) < 4.6e18;
    value = ok ? static_cast<std::int64_t>(d) : 0;
    ok = ok && value >= static_cast<std::int64_t>(kMin) && value <= static_cast<std::int64_t>(kMax);
  } else {
    throw BadField{fmt::format("field '{}': must be a number", key)};
  }
  if (!ok) throw BadField{fmt::format("field '{}': {} is not a whole number in range", key, v->dump())};
  out = static_cast<Int>(value);
}

void Real(const json& j, const char* key, double& out) {
  if (const json* v = Find(j, key)) {
    if (!v->is_number()) throw BadField{fmt::format("field '{}': must be a number", key)};
    out = v->get<double>();
  }
}

void Micros(const json& j, const char* key, Duration& out) {
  std::int64_t us = out.count();
  Integer(j, key, us);
  out = Duration(us);
}

const json& Object(const json& j, const char* key) {
  static const json kEmpty = json::object();
  const json* v = Find(j, key);
  if (!v) return kEmpty;
  if (!v->is_object()) throw BadField{fmt::format("field '{}': must be an object", key)};
  return *v;
}

ServiceSpec SpecFrom(const json& j) {
  if (!j.is_object()) throw BadField{"the service spec must be a JSON object"};
  ServiceSpec s;
  Str(j, "name", s.name);
  Integer(j, "min_replicas", s.min_replicas);
  Integer(j, "max_replicas", s.max_replicas);
  const json& r = Object(j, "resources");
  Integer(r, "cpu_milli", s.per_replica.cpu_milli);
  Integer(r, "memory_bytes", s.per_replica.memory_bytes);
  Integer(r, "gpus", s.per_replica.gpus);
  Str(j, "gpu_model", s.gpu_model);
  Str(j, "queue", s.queue);
  Integer(j, "port", s.port);
  const json& p = Object(j, "readiness");
  Str(p, "path", s.readiness.path);
  Micros(p, "initial_delay_us", s.readiness.initial_delay);
  Micros(p, "period_us", s.readiness.period);
  Micros(p, "timeout_us", s.readiness.timeout);
  Integer(p, "failure_threshold", s.readiness.failure_threshold);
  const json& a = Object(j, "autoscale");
  Real(a, "target_qps_per_replica", s.autoscale.target_qps_per_replica);
  Integer(a, "max_concurrent_per_replica", s.autoscale.max_concurrent_per_replica);
  Micros(a, "upscale_delay_us", s.autoscale.upscale_delay);
  Micros(a, "downscale_delay_us", s.autoscale.downscale_delay);
  Micros(a, "cold_start_timeout_us", s.autoscale.cold_start_timeout);
  Str(j, "load_balancing", s.load_balancing);
  Str(j, "run", s.run);
  Str(j, "setup", s.setup);
  if (const json* env = Find(j, "env")) {
    if (!env->is_object()) throw BadField{"field 'env': must be an object of strings"};
    for (const auto& [k, v] : env->items()) {
      if (!v.is_string()) throw BadField{fmt::format("field 'env.{}': must be a string", k)};
      s.env[k] = v.get<std::string>();
    }
  }
  Bool(j, "preemptible", s.preemptible);
  Str(j, "user", s.user);
  Str(j, "submit_dir", s.submit_dir);
  return s;
}

template <class T, class F>
Result<T> Decode(std::string_view what, F&& f) {
  try {
    return f();
  } catch (const BadField& e) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("bad {}: {}", what, e.message));
  } catch (const json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("bad {}: {}", what, e.what()));
  }
}

}  // namespace

std::string_view ToString(ServiceState state) {
  return state == ServiceState::kActive ? "ACTIVE" : "DELETING";
}

json ServiceSpecToJson(const ServiceSpec& s) {
  return json{
      {"name", s.name},
      {"min_replicas", s.min_replicas},
      {"max_replicas", s.max_replicas},
      {"resources",
       {{"cpu_milli", s.per_replica.cpu_milli},
        {"memory_bytes", s.per_replica.memory_bytes},
        {"gpus", s.per_replica.gpus}}},
      {"gpu_model", s.gpu_model},
      {"queue", s.queue},
      {"port", s.port},
      {"readiness",
       {{"path", s.readiness.path},
        {"initial_delay_us", s.readiness.initial_delay.count()},
        {"period_us", s.readiness.period.count()},
        {"timeout_us", s.readiness.timeout.count()},
        {"failure_threshold", s.readiness.failure_threshold}}},
      {"autoscale",
       {{"target_qps_per_replica", s.autoscale.target_qps_per_replica},
        {"max_concurrent_per_replica", s.autoscale.max_concurrent_per_replica},
        {"upscale_delay_us", s.autoscale.upscale_delay.count()},
        {"downscale_delay_us", s.autoscale.downscale_delay.count()},
        {"cold_start_timeout_us", s.autoscale.cold_start_timeout.count()}}},
      {"load_balancing", s.load_balancing},
      {"run", s.run},
      {"setup", s.setup},
      {"env", s.env},
      {"preemptible", s.preemptible},
      {"user", s.user},
      {"submit_dir", s.submit_dir},
  };
}

Result<ServiceSpec> ServiceSpecFromJson(const json& j) {
  return Decode<ServiceSpec>("service spec", [&] { return SpecFrom(j); });
}

json ServiceToJson(const Service& s) {
  return json{{"spec", ServiceSpecToJson(s.spec)},
              {"generation", s.generation},
              {"endpoint_port", s.endpoint_port},
              {"created_us", ToUnixMicros(s.created)},
              {"updated_us", ToUnixMicros(s.updated)},
              {"state", ToString(s.state)}};
}

Result<Service> ServiceFromJson(const json& j) {
  return Decode<Service>("service", [&] {
    if (!j.is_object()) throw BadField{"a service record must be a JSON object"};
    Service s;
    const json* spec = Find(j, "spec");
    if (!spec) throw BadField{"field 'spec': is missing"};
    s.spec = SpecFrom(*spec);
    Integer(j, "generation", s.generation);
    Integer(j, "endpoint_port", s.endpoint_port);
    std::int64_t created = 0, updated = 0;
    Integer(j, "created_us", created);
    Integer(j, "updated_us", updated);
    s.created = FromUnixMicros(created);
    s.updated = FromUnixMicros(updated);
    std::string state = "ACTIVE";
    Str(j, "state", state);
    if (state != "ACTIVE" && state != "DELETING") {
      throw BadField{fmt::format("field 'state': unknown service state '{}'", state)};
    }
    s.state = state == "ACTIVE" ? ServiceState::kActive : ServiceState::kDeleting;
    return s;
  });
}

}  // namespace weft::model
