// Running totals of every (contest, scope): the sum of the latest accepted
// version of every reported station's protocol. Updated incrementally (new
// version minus old version), never by re-summing. Pure: no I/O.
//
// Scopes kept per contest: a national contest has national, every region and
// every district; a district contest has its district only (its totals are
// the contest's). Entries are addressed by a dense index so the committer
// can collect changed entries cheaply.
#ifndef TALLY_SERVICES_DOMAIN_TOTALS_BOOK_H_
#define TALLY_SERVICES_DOMAIN_TOTALS_BOOK_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "services/domain/election_index.h"
#include "tally/v1/protocol.pb.h"
#include "tally/v1/results.pb.h"

namespace tally {

// Identifies one totals entry, stable for a given definition: contest
// position, scope kind, and the region's or district's position in the
// definition (0 for national).
struct TotalsAddress {
  uint16_t contest = 0;
  v1::ScopeKind scope_kind = v1::SCOPE_KIND_NATIONAL;
  uint32_t scope_index = 0;
  friend bool operator==(const TotalsAddress&, const TotalsAddress&) = default;
};

class TotalsBook {
 public:
  // Zeroed totals for every (contest, scope) with the expected station and
  // voter counts of the definition.
  explicit TotalsBook(const ElectionIndex& index);

  // Replaces `previous` (nullptr: the station had not reported this contest)
  // by `current` for one station. Both must be validated protocols of the
  // same contest and station. Marks every touched entry changed. Allocates
  // nothing. A protocol of an unknown contest or station, of a station that
  // does not vote in the contest, or a `previous` of another contest or
  // station is ignored.
  void Apply(const v1::StationProtocol* previous, bool previous_anomalies,
             const v1::StationProtocol& current, bool current_anomalies);

  // The entries a protocol of its contest and station lands in (at most 3,
  // the contest's own scope first), written to `out`; 0 when Apply would
  // ignore it (unknown contest or station, or a station that does not vote
  // in the contest).
  size_t EntriesFor(const v1::StationProtocol& protocol, uint32_t out[3]) const;
  const ElectionIndex& index() const { return index_; }

  // Entries changed since the last TakeChanged(), each once, in entry order.
  std::vector<uint32_t> TakeChanged();

  size_t size() const;
  const TotalsAddress& address(uint32_t entry) const;
  // The published scope of an address.
  v1::Scope ScopeOf(const TotalsAddress& address) const;
  // The entry as the published message (contest_id, scope, choices in the
  // contest's order, counts, revision of its last change, and the shares of
  // the contest's share base: vote_shares.h).
  v1::Totals ToProto(uint32_t entry) const;
  // Sets the revision recorded on entries changed since the last
  // TakeChanged (call before TakeChanged).
  void StampChanged(uint64_t revision);

  // Entry for a contest and scope; nullopt when the contest does not keep
  // that scope.
  std::optional<uint32_t> Find(const std::string& contest_id,
                               const v1::Scope& scope) const;
  // The entry of a contest's own scope (national, or its district).
  uint32_t ContestEntry(uint32_t contest_index) const;
  // Every entry of one contest, own scope first.
  std::vector<uint32_t> EntriesOf(uint32_t contest_index) const;

  // Restores one entry from its stored message (start-up). InvalidArgument
  // when it does not match the definition (unknown contest, scope or
  // choice, a repeated choice, expected counts that differ from the
  // definition's, anomalies > reported > expected, or a reported ballot cap
  // above the expected one). A ballot_cap_expected of 0 is taken as absent
  // (totals stored before the field existed): the definition's value is
  // kept, and the reported cap restored as stored, 0 if absent, which only
  // widens the seat ranges. Leaves the entry untouched on error; never
  // marks it changed.
  absl::Status Restore(const v1::Totals& totals);

  // Back to the state of a new book: every count and revision zero (the
  // expected counts of the definition kept), nothing marked changed. The
  // aggregator resets before restoring the stored totals again after a
  // failed commit (see AggregatorState::Rebuild).
  void Reset();

  // Field-by-field equality with another book (verification); each
  // difference as a line "contest/scope: field a != b".
  std::vector<std::string> Differences(const TotalsBook& other) const;

 private:
  // One (contest, scope): integer counters, votes indexed by the contest's
  // choice position.
  struct Entry {
    TotalsAddress address;
    std::vector<uint64_t> votes;
    uint64_t against_all = 0;
    uint64_t invalid = 0;
    uint64_t ballots_cast = 0;
    uint64_t ballots_issued = 0;
    uint64_t registered_voters = 0;
    uint64_t registered_voters_expected = 0;
    // Validation's ballot caps (ballot_cap.h) of every station in scope,
    // and of those that have reported; from the definition only.
    uint64_t ballot_cap_expected = 0;
    uint64_t ballot_cap_reported = 0;
    uint32_t stations_reported = 0;
    uint32_t stations_expected = 0;
    uint32_t stations_with_anomalies = 0;
    uint64_t revision = 0;
  };
  static constexpr uint32_t kNoDistrict = UINT32_MAX;
  // Where a station's protocols land, as positions in the definition.
  struct StationPlace {
    uint32_t region = 0;
    uint32_t district = kNoDistrict;
    // StationBallotCap of the station under the definition's policy.
    uint64_t ballot_cap = 0;
  };

  void BuildLayout();
  void CountExpected();
  // Entries touched by a protocol of `contest` from `place`; returns how
  // many were written to `out` (0 when the station does not vote in it).
  size_t Targets(uint32_t contest, const StationPlace& place,
                 uint32_t out[3]) const;
  void MarkChanged(uint32_t entry);
  // "national", "region/<id>" or "district/<id>".
  std::string ScopeText(const TotalsAddress& address) const;

  const ElectionIndex& index_;
  std::vector<Entry> entries_;
  std::vector<uint32_t> changed_;
  std::vector<uint8_t> is_changed_;
  // Per contest: first entry index and count.
  std::vector<std::pair<uint32_t, uint32_t>> contest_entries_;
  // Per contest: its district's position, or kNoDistrict when national.
  std::vector<uint32_t> contest_district_;
  absl::flat_hash_map<uint32_t, StationPlace> stations_;
  absl::flat_hash_map<std::string, uint32_t> region_position_;
  absl::flat_hash_map<std::string, uint32_t> district_position_;
};

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_TOTALS_BOOK_H_
