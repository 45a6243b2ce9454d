// Running totals per (contest, scope). Layout: the entries of each contest
// are contiguous, in contest order. A national contest keeps, in this order,
// the national entry, one entry per region (definition order) and one per
// district (definition order); a district contest keeps its district's
// entry only. So every entry index is a sum of positions, and Apply needs
// no lookup beyond the contest, the station and the choice lines.
//
// Apply is the hot path (hundreds of thousands of calls per second): it
// allocates nothing. Every vector is sized at construction; choice lines
// are matched by position first (protocols usually list the choices in the
// contest's order) and by hash only when that guess fails. Counters are
// unsigned and the update is "subtract the previous version, add the
// current one": modular arithmetic makes the final value exact whatever
// the order of the two steps.
#include "services/domain/totals_book.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "services/domain/ballot_cap.h"
#include "services/domain/vote_shares.h"

namespace tally {
namespace {

v1::ScopeKind Normalized(v1::ScopeKind kind) {
  return kind == v1::SCOPE_KIND_UNSPECIFIED ? v1::SCOPE_KIND_NATIONAL : kind;
}

}  // namespace

TotalsBook::TotalsBook(const ElectionIndex& index) : index_(index) {
  BuildLayout();
  CountExpected();
  is_changed_.assign(entries_.size(), 0);
  changed_.reserve(entries_.size());
}

void TotalsBook::BuildLayout() {
  const v1::ElectionDefinition& definition = index_.definition();
  for (int i = 0; i < definition.regions_size(); ++i) {
    region_position_.emplace(definition.regions(i).id(),
                             static_cast<uint32_t>(i));
  }
  for (int i = 0; i < definition.districts_size(); ++i) {
    district_position_.emplace(definition.districts(i).id(),
                               static_cast<uint32_t>(i));
  }
  stations_.reserve(definition.stations_size());
  for (const v1::PollingStation& station : definition.stations()) {
    StationPlace place;
    // A validated definition names only known regions and districts.
    if (auto it = region_position_.find(station.region_id());
        it != region_position_.end()) {
      place.region = it->second;
    }
    if (auto it = district_position_.find(station.district_id());
        it != district_position_.end()) {
      place.district = it->second;
    }
    place.ballot_cap = StationBallotCap(station, definition.validation());
    stations_.emplace(station.id(), place);
  }

  const uint32_t regions = static_cast<uint32_t>(definition.regions_size());
  const uint32_t districts = static_cast<uint32_t>(definition.districts_size());
  for (const ContestInfo& contest : index_.contests()) {
    const uint16_t position = static_cast<uint16_t>(contest.index);
    const size_t choices = static_cast<size_t>(contest.contest->choices_size());
    const uint32_t first = static_cast<uint32_t>(entries_.size());
    auto add = [&](v1::ScopeKind kind, uint32_t scope_index) {
      Entry entry;
      entry.address = TotalsAddress{position, kind, scope_index};
      entry.votes.assign(choices, 0);
      entries_.push_back(std::move(entry));
    };
    const std::string& district_id = contest.contest->district_id();
    if (district_id.empty()) {
      contest_district_.push_back(kNoDistrict);
      add(v1::SCOPE_KIND_NATIONAL, 0);
      for (uint32_t r = 0; r < regions; ++r) add(v1::SCOPE_KIND_REGION, r);
      for (uint32_t d = 0; d < districts; ++d) add(v1::SCOPE_KIND_DISTRICT, d);
    } else {
      const auto it = district_position_.find(district_id);
      const uint32_t district =
          it == district_position_.end() ? kNoDistrict : it->second;
      contest_district_.push_back(district);
      add(v1::SCOPE_KIND_DISTRICT, district == kNoDistrict ? 0 : district);
    }
    contest_entries_.emplace_back(
        first, static_cast<uint32_t>(entries_.size()) - first);
  }
}

// One pass over the stations per national contest; district contests take
// their figures from the index.
void TotalsBook::CountExpected() {
  const v1::ElectionDefinition& definition = index_.definition();
  for (const ContestInfo& contest : index_.contests()) {
    const uint32_t first = contest_entries_[contest.index].first;
    entries_[first].stations_expected = contest.stations_expected;
    entries_[first].registered_voters_expected =
        contest.registered_voters_expected;
    entries_[first].ballot_cap_expected = contest.ballot_cap_expected;
    if (!contest.contest->district_id().empty()) continue;
    for (const v1::PollingStation& station : definition.stations()) {
      const StationPlace& place = stations_.at(station.id());
      uint32_t targets[3];
      const size_t count = Targets(contest.index, place, targets);
      for (size_t t = 1; t < count; ++t) {  // 0 is the national entry
        ++entries_[targets[t]].stations_expected;
        entries_[targets[t]].registered_voters_expected +=
            station.registered_voters();
        entries_[targets[t]].ballot_cap_expected += place.ballot_cap;
      }
    }
  }
}

size_t TotalsBook::Targets(uint32_t contest, const StationPlace& place,
                           uint32_t out[3]) const {
  const uint32_t first = contest_entries_[contest].first;
  const uint32_t own_district = contest_district_[contest];
  if (!index_.contests()[contest].contest->district_id().empty()) {
    if (own_district == kNoDistrict || place.district != own_district) {
      return 0;
    }
    out[0] = first;
    return 1;
  }
  const uint32_t regions =
      static_cast<uint32_t>(index_.definition().regions_size());
  out[0] = first;
  out[1] = first + 1 + place.region;
  if (place.district == kNoDistrict) return 2;
  out[2] = first + 1 + regions + place.district;
  return 3;
}

size_t TotalsBook::EntriesFor(const v1::StationProtocol& protocol,
                              uint32_t out[3]) const {
  const ContestInfo* contest = index_.FindContest(protocol.contest_id());
  if (contest == nullptr) return 0;
  const auto station = stations_.find(protocol.station_id());
  if (station == stations_.end()) return 0;
  return Targets(contest->index, station->second, out);
}

void TotalsBook::MarkChanged(uint32_t entry) {
  if (is_changed_[entry]) return;
  is_changed_[entry] = 1;
  changed_.push_back(entry);  // capacity reserved for every entry
}

void TotalsBook::Apply(const v1::StationProtocol* previous,
                       bool previous_anomalies,
                       const v1::StationProtocol& current,
                       bool current_anomalies) {
  // Preconditions (validated protocols of one contest and station); a
  // protocol that breaks them is ignored rather than corrupting totals.
  const ContestInfo* contest = index_.FindContest(current.contest_id());
  if (contest == nullptr) return;
  const auto station = stations_.find(current.station_id());
  if (station == stations_.end()) return;
  if (previous != nullptr && (previous->station_id() != current.station_id() ||
                              previous->contest_id() != current.contest_id())) {
    return;
  }
  uint32_t targets[3];
  const size_t count = Targets(contest->index, station->second, targets);
  Entry* touched[3] = {nullptr, nullptr, nullptr};
  for (size_t t = 0; t < count; ++t) touched[t] = &entries_[targets[t]];

  // `sign` is +1 or -1 as an unsigned multiplier: -1 wraps to subtraction.
  auto apply = [&](const v1::StationProtocol& protocol, uint64_t sign) {
    for (int i = 0; i < protocol.votes_size(); ++i) {
      const v1::ChoiceVotes& line = protocol.votes(i);
      // -1 for a choice the contest does not have (validated protocols
      // never carry one; such a line is ignored).
      const int position = ChoicePosition(*contest, line, i);
      if (position < 0) continue;
      for (size_t t = 0; t < count; ++t) {
        touched[t]->votes[static_cast<size_t>(position)] += sign * line.votes();
      }
    }
    const v1::BallotAccounting& lines = protocol.accounting();
    for (size_t t = 0; t < count; ++t) {
      Entry& entry = *touched[t];
      entry.against_all += sign * lines.against_all();
      entry.invalid += sign * lines.invalid();
      entry.ballots_cast += sign * lines.ballots_found();
      entry.ballots_issued += sign * lines.ballots_issued();
      entry.registered_voters += sign * lines.registered_voters();
    }
  };
  if (previous != nullptr) apply(*previous, ~uint64_t{0});
  apply(current, 1);

  for (size_t t = 0; t < count; ++t) {
    Entry& entry = *touched[t];
    if (previous == nullptr) {
      ++entry.stations_reported;
      // The definition's cap, whatever the protocol's registered line says.
      entry.ballot_cap_reported += station->second.ballot_cap;
    } else if (previous_anomalies) {
      --entry.stations_with_anomalies;
    }
    if (current_anomalies) ++entry.stations_with_anomalies;
    MarkChanged(targets[t]);
  }
}

std::vector<uint32_t> TotalsBook::TakeChanged() {
  std::vector<uint32_t> changed;
  changed.swap(changed_);
  changed_.reserve(entries_.size());
  std::sort(changed.begin(), changed.end());
  for (uint32_t entry : changed) is_changed_[entry] = 0;
  return changed;
}

void TotalsBook::Reset() {
  for (Entry& entry : entries_) {
    std::fill(entry.votes.begin(), entry.votes.end(), 0);
    entry.against_all = 0;
    entry.invalid = 0;
    entry.ballots_cast = 0;
    entry.ballots_issued = 0;
    entry.registered_voters = 0;
    entry.ballot_cap_reported = 0;
    entry.stations_reported = 0;
    entry.stations_with_anomalies = 0;
    entry.revision = 0;
  }
  changed_.clear();
  is_changed_.assign(entries_.size(), 0);
}

void TotalsBook::StampChanged(uint64_t revision) {
  for (uint32_t entry : changed_) entries_[entry].revision = revision;
}

size_t TotalsBook::size() const { return entries_.size(); }

const TotalsAddress& TotalsBook::address(uint32_t entry) const {
  return entries_[entry].address;
}

v1::Scope TotalsBook::ScopeOf(const TotalsAddress& address) const {
  v1::Scope scope;
  scope.set_kind(address.scope_kind);
  const v1::ElectionDefinition& definition = index_.definition();
  if (address.scope_kind == v1::SCOPE_KIND_REGION) {
    scope.set_id(
        definition.regions(static_cast<int>(address.scope_index)).id());
  } else if (address.scope_kind == v1::SCOPE_KIND_DISTRICT) {
    scope.set_id(
        definition.districts(static_cast<int>(address.scope_index)).id());
  }
  return scope;
}

std::string TotalsBook::ScopeText(const TotalsAddress& address) const {
  const v1::Scope scope = ScopeOf(address);
  switch (scope.kind()) {
    case v1::SCOPE_KIND_REGION:
      return absl::StrCat("region/", scope.id());
    case v1::SCOPE_KIND_DISTRICT:
      return absl::StrCat("district/", scope.id());
    default:
      return "national";
  }
}

v1::Totals TotalsBook::ToProto(uint32_t entry_index) const {
  const Entry& entry = entries_[entry_index];
  const v1::Contest& contest =
      *index_.contests()[entry.address.contest].contest;
  v1::Totals totals;
  totals.set_contest_id(contest.id());
  *totals.mutable_scope() = ScopeOf(entry.address);
  totals.mutable_choices()->Reserve(contest.choices_size());
  for (int i = 0; i < contest.choices_size(); ++i) {
    v1::ChoiceTotal* choice = totals.add_choices();
    choice->set_choice_id(contest.choices(i).id());
    choice->set_votes(entry.votes[static_cast<size_t>(i)]);
  }
  totals.set_against_all(entry.against_all);
  totals.set_invalid(entry.invalid);
  totals.set_ballots_cast(entry.ballots_cast);
  totals.set_ballots_issued(entry.ballots_issued);
  totals.set_registered_voters(entry.registered_voters);
  totals.set_registered_voters_expected(entry.registered_voters_expected);
  totals.set_stations_reported(entry.stations_reported);
  totals.set_stations_expected(entry.stations_expected);
  totals.set_stations_with_anomalies(entry.stations_with_anomalies);
  totals.set_revision(entry.revision);
  totals.set_ballot_cap_expected(entry.ballot_cap_expected);
  totals.set_ballot_cap_reported(entry.ballot_cap_reported);
  SetShares(contest, &totals);
  return totals;
}

std::optional<uint32_t> TotalsBook::Find(const std::string& contest_id,
                                         const v1::Scope& scope) const {
  const ContestInfo* contest = index_.FindContest(contest_id);
  if (contest == nullptr) return std::nullopt;
  const uint32_t first = contest_entries_[contest->index].first;
  const uint32_t own_district = contest_district_[contest->index];
  const bool national = contest->contest->district_id().empty();
  switch (Normalized(scope.kind())) {
    case v1::SCOPE_KIND_NATIONAL:
      if (!national || !scope.id().empty()) return std::nullopt;
      return first;
    case v1::SCOPE_KIND_REGION: {
      if (!national) return std::nullopt;
      const auto it = region_position_.find(scope.id());
      if (it == region_position_.end()) return std::nullopt;
      return first + 1 + it->second;
    }
    case v1::SCOPE_KIND_DISTRICT: {
      const auto it = district_position_.find(scope.id());
      if (it == district_position_.end()) return std::nullopt;
      if (!national) {
        if (it->second != own_district) return std::nullopt;
        return first;
      }
      return first + 1 +
             static_cast<uint32_t>(index_.definition().regions_size()) +
             it->second;
    }
    default:
      return std::nullopt;
  }
}

uint32_t TotalsBook::ContestEntry(uint32_t contest_index) const {
  return contest_entries_[contest_index].first;
}

std::vector<uint32_t> TotalsBook::EntriesOf(uint32_t contest_index) const {
  const auto [first, count] = contest_entries_[contest_index];
  std::vector<uint32_t> entries(count);
  for (uint32_t i = 0; i < count; ++i) entries[i] = first + i;
  return entries;
}

absl::Status TotalsBook::Restore(const v1::Totals& totals) {
  const ContestInfo* contest = index_.FindContest(totals.contest_id());
  if (contest == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stored totals name unknown contest \"", totals.contest_id(), "\""));
  }
  const std::optional<uint32_t> found =
      Find(totals.contest_id(), totals.scope());
  if (!found.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stored totals of contest \"", totals.contest_id(), "\": scope (kind ",
        v1::ScopeKind_Name(totals.scope().kind()), ", id \"",
        totals.scope().id(), "\") is not kept for this contest"));
  }
  Entry& entry = entries_[*found];
  const std::string where = absl::StrCat("stored totals ", totals.contest_id(),
                                         "/", ScopeText(entry.address), ": ");
  std::vector<uint64_t> votes(entry.votes.size(), 0);
  std::vector<uint8_t> seen(entry.votes.size(), 0);
  for (int i = 0; i < totals.choices_size(); ++i) {
    const v1::ChoiceTotal& choice = totals.choices(i);
    const v1::Contest& definition = *contest->contest;
    int position = -1;
    if (i < definition.choices_size() &&
        definition.choices(i).id() == choice.choice_id()) {
      position = i;
    } else if (auto it = contest->choice_index.find(choice.choice_id());
               it != contest->choice_index.end()) {
      position = static_cast<int>(it->second);
    }
    if (position < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "unknown choice \"", choice.choice_id(), "\""));
    }
    if (seen[static_cast<size_t>(position)]) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "choice \"", choice.choice_id(), "\" appears twice"));
    }
    seen[static_cast<size_t>(position)] = 1;
    votes[static_cast<size_t>(position)] = choice.votes();
  }
  if (totals.stations_expected() != entry.stations_expected ||
      totals.registered_voters_expected() != entry.registered_voters_expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "expected stations/voters ", totals.stations_expected(), "/",
        totals.registered_voters_expected(), " do not match the definition's ",
        entry.stations_expected, "/", entry.registered_voters_expected));
  }
  if (totals.stations_reported() > entry.stations_expected ||
      totals.stations_with_anomalies() > totals.stations_reported()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "stations reported ", totals.stations_reported(),
                     " and with anomalies ", totals.stations_with_anomalies(),
                     " must satisfy anomalies <= reported <= expected ",
                     entry.stations_expected));
  }
  if (totals.ballot_cap_expected() != 0 &&
      totals.ballot_cap_expected() != entry.ballot_cap_expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "expected ballot cap ", totals.ballot_cap_expected(),
        " does not match the definition's ", entry.ballot_cap_expected));
  }
  if (totals.ballot_cap_reported() > entry.ballot_cap_expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "reported ballot cap ", totals.ballot_cap_reported(),
        " exceeds the expected ", entry.ballot_cap_expected));
  }
  entry.votes = std::move(votes);
  entry.against_all = totals.against_all();
  entry.invalid = totals.invalid();
  entry.ballots_cast = totals.ballots_cast();
  entry.ballots_issued = totals.ballots_issued();
  entry.registered_voters = totals.registered_voters();
  entry.ballot_cap_reported = totals.ballot_cap_reported();
  entry.stations_reported = totals.stations_reported();
  entry.stations_with_anomalies = totals.stations_with_anomalies();
  entry.revision = totals.revision();
  return absl::OkStatus();
}

std::vector<std::string> TotalsBook::Differences(
    const TotalsBook& other) const {
  std::vector<std::string> lines;
  if (entries_.size() != other.entries_.size()) {
    lines.push_back(absl::StrCat("entries: count ", entries_.size(),
                                 " != ", other.entries_.size()));
  }
  const size_t common = std::min(entries_.size(), other.entries_.size());
  for (size_t i = 0; i < common; ++i) {
    const Entry& a = entries_[i];
    const Entry& b = other.entries_[i];
    const v1::Contest& contest = *index_.contests()[a.address.contest].contest;
    const std::string prefix =
        absl::StrCat(contest.id(), "/", ScopeText(a.address), ": ");
    if (!(a.address == b.address)) {
      lines.push_back(absl::StrCat(prefix, "address differs (",
                                   other.ScopeText(b.address), ")"));
      continue;
    }
    auto compare = [&](const char* field, uint64_t x, uint64_t y) {
      if (x != y)
        lines.push_back(absl::StrCat(prefix, field, " ", x, " != ", y));
    };
    for (size_t c = 0; c < a.votes.size() && c < b.votes.size(); ++c) {
      if (a.votes[c] != b.votes[c]) {
        lines.push_back(absl::StrCat(prefix, "votes[",
                                     contest.choices(static_cast<int>(c)).id(),
                                     "] ", a.votes[c], " != ", b.votes[c]));
      }
    }
    compare("against_all", a.against_all, b.against_all);
    compare("invalid", a.invalid, b.invalid);
    compare("ballots_cast", a.ballots_cast, b.ballots_cast);
    compare("ballots_issued", a.ballots_issued, b.ballots_issued);
    compare("registered_voters", a.registered_voters, b.registered_voters);
    compare("registered_voters_expected", a.registered_voters_expected,
            b.registered_voters_expected);
    compare("ballot_cap_expected", a.ballot_cap_expected,
            b.ballot_cap_expected);
    compare("ballot_cap_reported", a.ballot_cap_reported,
            b.ballot_cap_reported);
    compare("stations_reported", a.stations_reported, b.stations_reported);
    compare("stations_expected", a.stations_expected, b.stations_expected);
    compare("stations_with_anomalies", a.stations_with_anomalies,
            b.stations_with_anomalies);
  }
  return lines;
}

}  // namespace tally
