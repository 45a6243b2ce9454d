// Read-only lookups over a validated definition: station by id, contest by
// id, choice position, which stations vote in which contest. Built once at
// start; every hot-path lookup is a hash probe.
#ifndef TALLY_SERVICES_DOMAIN_ELECTION_INDEX_H_
#define TALLY_SERVICES_DOMAIN_ELECTION_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "tally/v1/election.pb.h"
#include "tally/v1/protocol.pb.h"

namespace tally {

struct ContestInfo {
  const v1::Contest* contest = nullptr;
  uint32_t index = 0;  // position in definition.contests
  absl::flat_hash_map<std::string, uint32_t> choice_index;
  uint32_t stations_expected = 0;
  uint64_t registered_voters_expected = 0;
  // Sum of StationBallotCap (ballot_cap.h) over the contest's stations: the
  // most ballots validation accepts for the contest when it caps them.
  uint64_t ballot_cap_expected = 0;
};

// The position in the contest of a protocol's vote line, which is usually
// at its own position (`line_position`): checked first, then looked up. -1
// for a choice the contest does not have.
int ChoicePosition(const ContestInfo& contest, const v1::ChoiceVotes& line,
                   int line_position);

class ElectionIndex {
 public:
  // Validates the definition (ValidateDefinition) and indexes it.
  static absl::StatusOr<std::unique_ptr<ElectionIndex>> Build(
      v1::ElectionDefinition definition);

  // Pointers into definition_ are handed out: never copied or moved.
  ElectionIndex(const ElectionIndex&) = delete;
  ElectionIndex& operator=(const ElectionIndex&) = delete;

  const v1::ElectionDefinition& definition() const { return definition_; }

  // nullptr when unknown.
  const v1::PollingStation* FindStation(uint32_t station_id) const;
  const ContestInfo* FindContest(const std::string& contest_id) const;
  const v1::Region* FindRegion(const std::string& region_id) const;
  const v1::District* FindDistrict(const std::string& district_id) const;

  // Whether the station votes in the contest (national contests: every
  // station; district contests: the district's stations).
  bool StationVotesIn(const v1::PollingStation& station,
                      const v1::Contest& contest) const;

  const std::vector<ContestInfo>& contests() const { return contests_; }
  uint64_t registered_voters() const { return registered_voters_; }

 private:
  ElectionIndex() = default;
  void Index();

  v1::ElectionDefinition definition_;
  absl::flat_hash_map<uint32_t, const v1::PollingStation*> stations_;
  absl::flat_hash_map<std::string, uint32_t> contest_by_id_;
  std::vector<ContestInfo> contests_;
  absl::flat_hash_map<std::string, const v1::Region*> regions_;
  absl::flat_hash_map<std::string, const v1::District*> districts_;
  uint64_t registered_voters_ = 0;
};

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_ELECTION_INDEX_H_
