#include "clients/bench/workload.h"

#include <algorithm>
#include <fstream>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "clients/simulator/night_generator.h"
#include "services/domain/definition_generator.h"
#include "services/domain/election_index.h"
#include "services/domain/election_loader.h"

namespace tally::bench {
namespace {

void AddRegions(v1::ElectionDefinition* base, uint32_t count,
                const std::string& prefix) {
  for (uint32_t r = 0; r < count; ++r) {
    v1::Region* region = base->add_regions();
    region->set_id(absl::StrFormat("%s%02d", prefix, r + 1));
    region->set_name(absl::StrFormat("Region %d", r + 1));
  }
}

// District d lies in region d mod regions, so every region has one.
void AddDistricts(v1::DefinitionSpec* spec, uint32_t count) {
  v1::ElectionDefinition* base = spec->mutable_base();
  const int regions = base->regions_size();
  for (uint32_t d = 0; d < count; ++d) {
    v1::District* district = base->add_districts();
    district->set_id(absl::StrFormat("d%03d", d + 1));
    district->set_name(absl::StrFormat("District %d", d + 1));
    district->set_region_id(base->regions(static_cast<int>(d) % regions).id());
    v1::DistrictPlan* plan = spec->add_districts();
    plan->set_district_id(district->id());
    plan->set_voter_weight(1000);
    plan->set_station_weight(1000);
    plan->set_code_prefix(absl::StrFormat("B-D%03d", d + 1));
  }
}

void AddChoices(v1::Contest* contest, uint32_t count,
                const std::string& prefix) {
  for (uint32_t c = 0; c < count; ++c) {
    v1::Choice* choice = contest->add_choices();
    choice->set_id(absl::StrFormat("%s%02d", prefix, c + 1));
    choice->set_name(absl::StrFormat("Choice %d", c + 1));
  }
}

v1::Contest* AddContest(v1::ElectionDefinition* base, const std::string& id,
                        v1::ContestKind kind, const std::string& district,
                        uint32_t seats, v1::AllocationMethod method,
                        uint32_t choices) {
  v1::Contest* contest = base->add_contests();
  contest->set_id(id);
  contest->set_name(id);
  contest->set_kind(kind);
  contest->set_district_id(district);
  contest->set_seats(seats);
  contest->mutable_rule()->set_method(method);
  contest->mutable_rule()->set_tie_rule(v1::TIE_RULE_LOWEST_ID);
  if (kind == v1::CONTEST_KIND_PARTY_LIST &&
      method != v1::ALLOCATION_METHOD_SAINTE_LAGUE) {
    contest->mutable_rule()->set_threshold_percent("4");
  }
  if (kind == v1::CONTEST_KIND_PRESIDENTIAL_MAJORITY) {
    contest->mutable_rule()->set_majority_base(v1::VOTE_BASE_LIST_VOTES);
  }
  AddChoices(contest, choices, kind == v1::CONTEST_KIND_PARTY_LIST ? "p" : "c");
  return contest;
}

}  // namespace

uint32_t ShapeStations(const std::string& shape) {
  if (shape == "indonesia") return 820'000;
  if (shape == "india") return 1'050'000;
  return 200'000;
}

absl::StatusOr<v1::DefinitionSpec> ShapeSpec(const std::string& shape,
                                             uint32_t stations) {
  v1::DefinitionSpec spec;
  v1::ElectionDefinition* base = spec.mutable_base();
  base->set_id(absl::StrCat("bench-", shape));
  base->set_name(absl::StrCat("Synthetic ", shape, "-sized election"));
  base->set_date("2024-02-14");
  base->set_time_zone("UTC");
  base->set_polls_close_local_time("20:00");
  base->mutable_validation()->set_registered_matches(v1::SEVERITY_ANOMALY);
  base->mutable_validation()->set_same_day_additions_basis_points(300);
  spec.set_seed(7);
  spec.set_size_spread_percent(50);
  uint32_t districts = 0;
  uint64_t voters_per_station = 0;
  if (shape == "bench") {
    AddRegions(base, 16, "r");
    districts = 64;
    voters_per_station = 1500;
  } else if (shape == "indonesia") {
    AddRegions(base, 38, "prov");
    districts = 84;
    voters_per_station = 250;  // 204.8 million voters, 820,000 stations
  } else if (shape == "india") {
    AddRegions(base, 36, "state");
    districts = 543;
    voters_per_station = 920;  // 968.8 million voters, 1.05 million stations
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown election shape \"", shape, "\" (bench, indonesia, india)"));
  }
  stations = std::max(stations, districts * 2);
  AddDistricts(&spec, districts);
  spec.set_domestic_stations(stations);
  spec.set_registered_voters(uint64_t{stations} * voters_per_station);
  if (shape == "bench") {
    AddContest(base, "list", v1::CONTEST_KIND_PARTY_LIST, "", 100,
               v1::ALLOCATION_METHOD_HARE, 8);
    for (const v1::District& d : base->districts()) {
      AddContest(base, absl::StrCat("smd-", d.id()),
                 v1::CONTEST_KIND_SINGLE_MANDATE, d.id(), 1,
                 v1::ALLOCATION_METHOD_PLURALITY, 5);
    }
  } else if (shape == "indonesia") {
    AddContest(base, "president", v1::CONTEST_KIND_PRESIDENTIAL_MAJORITY, "", 1,
               v1::ALLOCATION_METHOD_ABSOLUTE_MAJORITY, 3);
    // Copy: adding contests may reallocate the district list's storage.
    const std::vector<v1::District> list(base->districts().begin(),
                                         base->districts().end());
    for (const v1::District& d : list) {
      AddContest(base, absl::StrCat("dpr-", d.id()),
                 v1::CONTEST_KIND_PARTY_LIST, d.id(), 7,
                 v1::ALLOCATION_METHOD_SAINTE_LAGUE, 18);
      AddContest(base, absl::StrCat("dpd-", d.id()),
                 v1::CONTEST_KIND_PARTY_LIST, d.id(), 4,
                 v1::ALLOCATION_METHOD_HARE, 12);
      AddContest(base, absl::StrCat("dprdp-", d.id()),
                 v1::CONTEST_KIND_PARTY_LIST, d.id(), 10,
                 v1::ALLOCATION_METHOD_SAINTE_LAGUE, 18);
      AddContest(base, absl::StrCat("dprdk-", d.id()),
                 v1::CONTEST_KIND_PARTY_LIST, d.id(), 8,
                 v1::ALLOCATION_METHOD_SAINTE_LAGUE, 18);
    }
  } else {
    const std::vector<v1::District> list(base->districts().begin(),
                                         base->districts().end());
    for (const v1::District& d : list) {
      AddContest(base, absl::StrCat("ls-", d.id()),
                 v1::CONTEST_KIND_SINGLE_MANDATE, d.id(), 1,
                 v1::ALLOCATION_METHOD_PLURALITY, 10);
    }
  }
  return spec;
}

absl::StatusOr<Workload> BuildWorkload(const v1::DefinitionSpec& spec,
                                       const std::string& definition_path,
                                       uint64_t seed) {
  const absl::Time started = absl::Now();
  absl::StatusOr<v1::ElectionDefinition> definition = GenerateDefinition(spec);
  if (!definition.ok()) return definition.status();
  absl::StatusOr<Workload> workload =
      WorkloadOf(*std::move(definition), definition_path, seed);
  if (workload.ok()) {
    workload->generate_seconds = absl::ToDoubleSeconds(absl::Now() - started);
  }
  return workload;
}

absl::StatusOr<Workload> WorkloadOf(v1::ElectionDefinition definition,
                                    const std::string& definition_path,
                                    uint64_t seed) {
  const absl::Time started = absl::Now();
  Workload workload;
  workload.definition = std::move(definition);
  workload.definition_path = definition_path;
  {
    absl::StatusOr<std::string> json = DefinitionToJson(workload.definition);
    if (!json.ok()) return json.status();
    std::ofstream out(definition_path, std::ios::binary | std::ios::trunc);
    out << *json;
    if (!out.good()) {
      return absl::InternalError("cannot write " + definition_path);
    }
  }
  absl::flat_hash_map<std::string, size_t> region_index;
  for (const v1::Region& region : workload.definition.regions()) {
    region_index[region.id()] = workload.region_ids.size();
    workload.region_ids.push_back(region.id());
  }
  absl::flat_hash_map<uint32_t, size_t> station_region;
  for (const v1::PollingStation& station : workload.definition.stations()) {
    station_region[station.id()] = region_index[station.region_id()];
  }
  absl::flat_hash_map<std::string, uint32_t> contest_index;
  for (const v1::Contest& contest : workload.definition.contests()) {
    contest_index[contest.id()] =
        static_cast<uint32_t>(workload.contest_ids.size());
    workload.contest_ids.push_back(contest.id());
  }
  workload.by_region.resize(workload.region_ids.size());

  // Contests in groups of about a million protocols: the generator keeps
  // each group's protocols as messages, which are ten times their encoding.
  const int contests = workload.definition.contests_size();
  const uint64_t stations = workload.definition.stations_size();
  int begin = 0;
  while (begin < contests) {
    uint64_t protocols = 0;
    int end = begin;
    while (end < contests && (end == begin || protocols < 1'000'000)) {
      const v1::Contest& contest = workload.definition.contests(end);
      protocols +=
          contest.district_id().empty()
              ? stations
              : stations / std::max(1, workload.definition.districts_size());
      ++end;
    }
    v1::ElectionDefinition part = workload.definition;
    part.clear_contests();
    for (int c = begin; c < end; ++c) {
      *part.add_contests() = workload.definition.contests(c);
    }
    absl::StatusOr<std::unique_ptr<ElectionIndex>> index =
        ElectionIndex::Build(part);
    if (!index.ok()) return index.status();
    sim::NightOptions options;
    options.seed = seed;
    absl::StatusOr<std::vector<v1::StationProtocol>> truth =
        sim::GenerateTruth(**index, options);
    if (!truth.ok()) return truth.status();
    for (const v1::StationProtocol& protocol : *truth) {
      EncodedProtocol encoded;
      encoded.bytes = protocol.SerializeAsString();
      encoded.station_id = protocol.station_id();
      encoded.contest = contest_index[protocol.contest_id()];
      workload.by_region[station_region[protocol.station_id()]].push_back(
          std::move(encoded));
      ++workload.total;
    }
    begin = end;
  }
  // A station's contests arrive together on election night, so any prefix
  // of a region's list mixes every contest.
  for (auto& region : workload.by_region) {
    std::stable_sort(region.begin(), region.end(),
                     [](const EncodedProtocol& a, const EncodedProtocol& b) {
                       return a.station_id < b.station_id;
                     });
  }
  workload.generate_seconds = absl::ToDoubleSeconds(absl::Now() - started);
  return workload;
}

std::vector<std::vector<const EncodedProtocol*>> TakeEvenly(
    const Workload& workload, uint64_t count) {
  const size_t regions = workload.by_region.size();
  std::vector<std::vector<const EncodedProtocol*>> out(regions);
  for (size_t r = 0; r < regions; ++r) {
    const uint64_t share = count / regions + (r < count % regions ? 1 : 0);
    const auto& source = workload.by_region[r];
    const size_t take = std::min<size_t>(share, source.size());
    out[r].reserve(take);
    for (size_t i = 0; i < take; ++i) out[r].push_back(&source[i]);
  }
  return out;
}

}  // namespace tally::bench
