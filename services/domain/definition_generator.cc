#include "services/domain/definition_generator.h"

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "services/domain/definition_validation.h"
#include "services/domain/proto_json.h"
#include "services/domain/seat_allocation.h"
#include "services/domain/seeded_random.h"

namespace tally {
namespace internal {
// Defined in the source the build generates from the default spec file.
extern const char kEmbeddedDefaultSpec[];
}  // namespace internal

namespace {

// Relative station sizes are drawn around this value; a spread of at most 99
// percent keeps every relative size >= 1.
constexpr uint64_t kBaseSize = 100;
constexpr uint32_t kMaxSpreadPercent = 99;
// Keeps the products of weights and seat counts inside the exact 128-bit
// arithmetic of the seat library (see rational.h).
constexpr uint64_t kMaxWeightSum = uint64_t{1} << 40;
// Seat counts of the apportionment are 32-bit.
constexpr uint64_t kMaxRegisteredVoters = std::numeric_limits<uint32_t>::max();
// Far above any real election (the largest have about a million stations);
// bounds the memory a malformed spec can ask for.
constexpr uint64_t kMaxStations = 2'000'000;

absl::Status Invalid(const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat("definition spec: ", message));
}

absl::Status ValidateTotals(const v1::DefinitionSpec& spec) {
  if (spec.base().stations_size() != 0) {
    return Invalid(absl::StrFormat(
        "base.stations must be empty (found %d): the generator creates the "
        "stations",
        spec.base().stations_size()));
  }
  if (spec.domestic_stations() == 0) {
    return Invalid("domestic_stations must be at least 1");
  }
  if (uint64_t{spec.domestic_stations()} + spec.abroad_stations() >
      kMaxStations) {
    return Invalid(absl::StrFormat(
        "domestic_stations + abroad_stations must be at most %d",
        kMaxStations));
  }
  if (spec.registered_voters() == 0) {
    return Invalid("registered_voters must be at least 1");
  }
  if (spec.registered_voters() > kMaxRegisteredVoters) {
    return Invalid(absl::StrFormat("registered_voters must be at most %d",
                                   kMaxRegisteredVoters));
  }
  if (spec.abroad_registered_voters() > spec.registered_voters()) {
    return Invalid(absl::StrFormat(
        "abroad_registered_voters (%d) exceeds registered_voters (%d)",
        spec.abroad_registered_voters(), spec.registered_voters()));
  }
  const uint64_t domestic =
      spec.registered_voters() - spec.abroad_registered_voters();
  if (domestic < spec.domestic_stations()) {
    return Invalid(absl::StrFormat(
        "registered_voters - abroad_registered_voters (%d) is less than "
        "domestic_stations (%d): every station needs at least one voter",
        domestic, spec.domestic_stations()));
  }
  if (spec.abroad_stations() == 0 && spec.abroad_registered_voters() != 0) {
    return Invalid(absl::StrFormat(
        "abroad_registered_voters is %d but abroad_stations is 0",
        spec.abroad_registered_voters()));
  }
  if (spec.abroad_registered_voters() < spec.abroad_stations()) {
    return Invalid(absl::StrFormat(
        "abroad_registered_voters (%d) is less than abroad_stations (%d): "
        "every station needs at least one voter",
        spec.abroad_registered_voters(), spec.abroad_stations()));
  }
  if (spec.size_spread_percent() > kMaxSpreadPercent) {
    return Invalid(
        absl::StrFormat("size_spread_percent (%d) must be at most %d",
                        spec.size_spread_percent(), kMaxSpreadPercent));
  }
  return absl::OkStatus();
}

absl::Status ValidatePlans(const v1::DefinitionSpec& spec) {
  if (spec.districts_size() == 0) {
    return Invalid("districts: at least one district plan is required");
  }
  absl::flat_hash_map<std::string, int> base_districts;
  for (int i = 0; i < spec.base().districts_size(); ++i) {
    const std::string& id = spec.base().districts(i).id();
    if (auto [it, added] = base_districts.emplace(id, i); !added) {
      return Invalid(
          absl::StrFormat("base.districts[%d] (\"%s\"): id is already used by "
                          "base.districts[%d]",
                          i, id, it->second));
    }
  }
  absl::flat_hash_map<std::string, int> planned;
  absl::flat_hash_map<std::string, int> prefixes;
  uint64_t voter_weights = 0;
  uint64_t station_weights = 0;
  for (int i = 0; i < spec.districts_size(); ++i) {
    const v1::DistrictPlan& plan = spec.districts(i);
    const std::string where =
        absl::StrFormat("districts[%d] (\"%s\")", i, plan.district_id());
    if (!base_districts.contains(plan.district_id())) {
      return Invalid(
          absl::StrCat(where, ": district_id is not in base.districts"));
    }
    if (auto [it, added] = planned.emplace(plan.district_id(), i); !added) {
      return Invalid(
          absl::StrFormat("%s: district is already planned by "
                          "districts[%d]",
                          where, it->second));
    }
    if (plan.voter_weight() == 0) {
      return Invalid(absl::StrCat(where, ": voter_weight must be positive"));
    }
    if (plan.station_weight() == 0) {
      return Invalid(absl::StrCat(where, ": station_weight must be positive"));
    }
    if (!plan.code_prefix().empty()) {
      if (auto [it, added] = prefixes.emplace(plan.code_prefix(), i); !added) {
        return Invalid(absl::StrFormat(
            "%s: code_prefix \"%s\" is already used by districts[%d]", where,
            plan.code_prefix(), it->second));
      }
    }
    // Each weight is checked before it is added, so the sums cannot wrap.
    if (plan.voter_weight() > kMaxWeightSum - voter_weights ||
        plan.station_weight() > kMaxWeightSum - station_weights) {
      return Invalid(absl::StrFormat(
          "%s: the sums of voter_weight and of station_weight must each be "
          "at most %d",
          where, kMaxWeightSum));
    }
    voter_weights += plan.voter_weight();
    station_weights += plan.station_weight();
  }
  for (int i = 0; i < spec.base().districts_size(); ++i) {
    const std::string& id = spec.base().districts(i).id();
    if (!planned.contains(id)) {
      return Invalid(absl::StrFormat(
          "base.districts[%d] (\"%s\") has no plan in districts", i, id));
    }
  }
  if ((spec.abroad_stations() > 0 || !spec.abroad_district_id().empty()) &&
      !base_districts.contains(spec.abroad_district_id())) {
    return Invalid(
        absl::StrFormat("abroad_district_id \"%s\" is not in base.districts",
                        spec.abroad_district_id()));
  }
  return absl::OkStatus();
}

// Draws a relative size for each of `count` stations from `stream` and
// splits `voters` (>= count) over them: one voter each, the rest in
// proportion to the sizes.
absl::StatusOr<std::vector<uint64_t>> StationRegisters(uint64_t voters,
                                                       uint64_t count,
                                                       uint32_t spread,
                                                       SplitMix64 stream) {
  std::vector<uint64_t> sizes(count);
  for (uint64_t& size : sizes) {
    size = stream.Uniform(kBaseSize - spread, kBaseSize + spread);
  }
  absl::StatusOr<std::vector<uint64_t>> parts =
      seats::Apportion(voters - count, sizes);
  if (!parts.ok()) return parts.status();
  for (uint64_t& part : *parts) part += 1;
  return parts;
}

std::string StationCode(const std::string& prefix, uint64_t index) {
  if (prefix.empty()) return "";
  return absl::StrFormat("%s-%04d", prefix, index);
}

// "KZ-D01" -> "KZ-ABR": the first dash-separated part of the abroad
// district's prefix (the country code by convention) and "ABR".
std::string AbroadPrefix(const std::string& district_prefix) {
  const std::string country =
      district_prefix.substr(0, district_prefix.find('-'));
  return country.empty() ? "ABR" : absl::StrCat(country, "-ABR");
}

struct DistrictInfo {
  std::string region_id;
  const v1::DistrictPlan* plan = nullptr;
};

absl::StatusOr<v1::ElectionDefinition> Expand(const v1::DefinitionSpec& spec) {
  const v1::ElectionDefinition& base = spec.base();
  absl::flat_hash_map<std::string, DistrictInfo> info;
  for (const v1::District& district : base.districts()) {
    info[district.id()].region_id = district.region_id();
  }
  for (const v1::DistrictPlan& plan : spec.districts()) {
    info[plan.district_id()].plan = &plan;
  }

  // District order is the order of base.districts: station ids follow it,
  // and exact apportionment ties go to the earlier district.
  std::vector<uint64_t> voter_shares;
  std::vector<uint64_t> station_shares;
  for (const v1::District& district : base.districts()) {
    const v1::DistrictPlan& plan = *info[district.id()].plan;
    voter_shares.push_back(plan.voter_weight());
    station_shares.push_back(plan.station_weight());
  }
  const uint64_t domestic_voters =
      spec.registered_voters() - spec.abroad_registered_voters();
  absl::StatusOr<std::vector<uint64_t>> voters =
      seats::Apportion(domestic_voters, voter_shares);
  if (!voters.ok()) return voters.status();
  absl::StatusOr<std::vector<uint64_t>> stations =
      seats::Apportion(spec.domestic_stations(), station_shares);
  if (!stations.ok()) return stations.status();

  v1::ElectionDefinition definition = base;
  definition.mutable_stations()->Reserve(
      static_cast<int>(spec.domestic_stations() + spec.abroad_stations()));
  uint32_t next_id = 1;
  auto append = [&](const std::string& district_id, const std::string& prefix,
                    const std::vector<uint64_t>& registers, bool abroad) {
    for (size_t i = 0; i < registers.size(); ++i) {
      v1::PollingStation* station = definition.add_stations();
      station->set_id(next_id++);
      station->set_code(StationCode(prefix, i + 1));
      station->set_region_id(info[district_id].region_id);
      station->set_district_id(district_id);
      station->set_registered_voters(registers[i]);
      station->set_abroad(abroad);
    }
  };

  for (size_t d = 0; d < voter_shares.size(); ++d) {
    const std::string& id = base.districts(static_cast<int>(d)).id();
    if ((*stations)[d] == 0) {
      return Invalid(absl::StrFormat(
          "district \"%s\" gets no polling station: its station_weight is "
          "too small for %d domestic stations",
          id, spec.domestic_stations()));
    }
    if ((*voters)[d] < (*stations)[d]) {
      return Invalid(absl::StrFormat(
          "district \"%s\" gets %d registered voters for %d stations: every "
          "station needs at least one voter",
          id, (*voters)[d], (*stations)[d]));
    }
    absl::StatusOr<std::vector<uint64_t>> registers = StationRegisters(
        (*voters)[d], (*stations)[d], spec.size_spread_percent(),
        StreamFor(spec.seed(), id));
    if (!registers.ok()) return registers.status();
    append(id, info[id].plan->code_prefix(), *registers, /*abroad=*/false);
  }

  if (spec.abroad_stations() > 0) {
    const std::string& id = spec.abroad_district_id();
    // '/' cannot occur in a district id, so this stream is distinct from
    // every district's.
    absl::StatusOr<std::vector<uint64_t>> registers = StationRegisters(
        spec.abroad_registered_voters(), spec.abroad_stations(),
        spec.size_spread_percent(), StreamFor(spec.seed(), "abroad/" + id));
    if (!registers.ok()) return registers.status();
    append(id, AbroadPrefix(info[id].plan->code_prefix()), *registers,
           /*abroad=*/true);
  }
  return definition;
}

}  // namespace

absl::StatusOr<v1::ElectionDefinition> GenerateDefinition(
    const v1::DefinitionSpec& spec) {
  if (absl::Status status = ValidateTotals(spec); !status.ok()) return status;
  if (absl::Status status = ValidatePlans(spec); !status.ok()) return status;
  absl::StatusOr<v1::ElectionDefinition> definition = Expand(spec);
  if (!definition.ok()) return definition.status();
  // The base (regions, contests, policy) is only checked here, by the same
  // rules every loaded definition must pass.
  if (absl::Status status = ValidateDefinition(*definition); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("definition spec: generated definition is invalid: ",
                     status.message()));
  }
  return definition;
}

absl::StatusOr<v1::DefinitionSpec> ParseDefinitionSpecJson(
    const std::string& json) {
  v1::DefinitionSpec spec;
  if (absl::Status status = ParseJson(json, &spec); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("definition spec: invalid JSON: ", status.message()));
  }
  return spec;
}

absl::StatusOr<v1::ElectionDefinition> EmbeddedDefaultDefinition() {
  // Generated once per process; never destroyed, so it is safe to use from
  // other static destructors.
  static const auto* const kDefinition =
      new absl::StatusOr<v1::ElectionDefinition>(
          []() -> absl::StatusOr<v1::ElectionDefinition> {
            absl::StatusOr<v1::DefinitionSpec> spec =
                ParseDefinitionSpecJson(internal::kEmbeddedDefaultSpec);
            if (!spec.ok()) return spec.status();
            return GenerateDefinition(*spec);
          }());
  return *kDefinition;
}

}  // namespace tally
