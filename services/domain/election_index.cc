#include "services/domain/election_index.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "services/domain/ballot_cap.h"
#include "services/domain/definition_validation.h"

namespace tally {

absl::StatusOr<std::unique_ptr<ElectionIndex>> ElectionIndex::Build(
    v1::ElectionDefinition definition) {
  if (absl::Status valid = ValidateDefinition(definition); !valid.ok()) {
    return valid;
  }
  // The constructor is private, hence no std::make_unique.
  std::unique_ptr<ElectionIndex> index(new ElectionIndex());
  index->definition_ = std::move(definition);
  index->Index();
  return index;
}

// Called once, after definition_ has reached its final place: every pointer
// stored below points into it and stays valid for the object's lifetime.
void ElectionIndex::Index() {
  for (const v1::Region& region : definition_.regions()) {
    regions_.emplace(region.id(), &region);
  }
  for (const v1::District& district : definition_.districts()) {
    districts_.emplace(district.id(), &district);
  }

  // Per-district sums, so that expected counts cost O(stations + contests).
  struct Sums {
    uint32_t stations = 0;
    uint64_t voters = 0;
    uint64_t ballot_cap = 0;
  };
  Sums national;
  absl::flat_hash_map<std::string, Sums> by_district;
  for (const v1::PollingStation& station : definition_.stations()) {
    stations_.emplace(station.id(), &station);
    ++national.stations;
    national.voters += station.registered_voters();
    const uint64_t cap = StationBallotCap(station, definition_.validation());
    national.ballot_cap += cap;
    Sums& district = by_district[station.district_id()];
    ++district.stations;
    district.voters += station.registered_voters();
    district.ballot_cap += cap;
  }
  registered_voters_ = national.voters;

  contests_.reserve(definition_.contests_size());
  for (int i = 0; i < definition_.contests_size(); ++i) {
    const v1::Contest& contest = definition_.contests(i);
    ContestInfo info;
    info.contest = &contest;
    info.index = static_cast<uint32_t>(i);
    for (int j = 0; j < contest.choices_size(); ++j) {
      info.choice_index.emplace(contest.choices(j).id(),
                                static_cast<uint32_t>(j));
    }
    const Sums& sums = contest.district_id().empty()
                           ? national
                           : by_district[contest.district_id()];
    info.stations_expected = sums.stations;
    info.registered_voters_expected = sums.voters;
    info.ballot_cap_expected = sums.ballot_cap;
    contest_by_id_.emplace(contest.id(), static_cast<uint32_t>(i));
    contests_.push_back(std::move(info));
  }
}

const v1::PollingStation* ElectionIndex::FindStation(
    uint32_t station_id) const {
  const auto it = stations_.find(station_id);
  return it == stations_.end() ? nullptr : it->second;
}

const ContestInfo* ElectionIndex::FindContest(
    const std::string& contest_id) const {
  const auto it = contest_by_id_.find(contest_id);
  return it == contest_by_id_.end() ? nullptr : &contests_[it->second];
}

const v1::Region* ElectionIndex::FindRegion(
    const std::string& region_id) const {
  const auto it = regions_.find(region_id);
  return it == regions_.end() ? nullptr : it->second;
}

const v1::District* ElectionIndex::FindDistrict(
    const std::string& district_id) const {
  const auto it = districts_.find(district_id);
  return it == districts_.end() ? nullptr : it->second;
}

bool ElectionIndex::StationVotesIn(const v1::PollingStation& station,
                                   const v1::Contest& contest) const {
  return contest.district_id().empty() ||
         station.district_id() == contest.district_id();
}

int ChoicePosition(const ContestInfo& contest, const v1::ChoiceVotes& line,
                   int line_position) {
  const v1::Contest& definition = *contest.contest;
  if (line_position < definition.choices_size() &&
      definition.choices(line_position).id() == line.choice_id()) {
    return line_position;
  }
  const auto it = contest.choice_index.find(line.choice_id());
  return it == contest.choice_index.end() ? -1 : static_cast<int>(it->second);
}

}  // namespace tally
