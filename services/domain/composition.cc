#include "services/domain/composition.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace tally {
namespace {

bool FillsSeats(const v1::Contest& contest) {
  return contest.kind() == v1::CONTEST_KIND_PARTY_LIST ||
         contest.kind() == v1::CONTEST_KIND_SINGLE_MANDATE;
}

// The allocation's scope is the contest's own.
bool AtContestScope(const v1::Contest& contest,
                    const v1::SeatAllocation& allocation) {
  const v1::Scope& scope = allocation.scope();
  if (contest.district_id().empty()) {
    return scope.kind() == v1::SCOPE_KIND_NATIONAL ||
           scope.kind() == v1::SCOPE_KIND_UNSPECIFIED;
  }
  return scope.kind() == v1::SCOPE_KIND_DISTRICT &&
         scope.id() == contest.district_id();
}

struct Row {
  v1::PartySeats seats;
  size_t order = 0;  // definition order of the party; self-nominated last
};

}  // namespace

v1::ChamberComposition ComputeComposition(
    const v1::ElectionDefinition& definition,
    const std::vector<const v1::SeatAllocation*>& allocations) {
  // The parties, in the order they first appear in a party-list contest.
  absl::flat_hash_map<std::string, Row> rows;
  size_t next_order = 0;
  for (const v1::Contest& contest : definition.contests()) {
    if (contest.kind() != v1::CONTEST_KIND_PARTY_LIST) continue;
    for (const v1::Choice& choice : contest.choices()) {
      auto [it, inserted] = rows.try_emplace(choice.id());
      if (!inserted) continue;
      it->second.order = next_order++;
      it->second.seats.set_party_id(choice.id());
      it->second.seats.set_name(choice.name());
      it->second.seats.set_colour(choice.colour());
    }
  }
  const auto row_of = [&](const std::string& party_id) -> v1::PartySeats& {
    auto [it, inserted] = rows.try_emplace(party_id);
    if (inserted) {
      // Self-nominated (empty id) or a party without a list (not in a
      // validated definition): after every listed party.
      it->second.order = party_id.empty() ? SIZE_MAX : next_order++;
      it->second.seats.set_party_id(party_id);
      it->second.seats.set_self_nominated(party_id.empty());
      it->second.seats.set_name(party_id.empty() ? "Self-nominated" : party_id);
    }
    return it->second.seats;
  };

  v1::ChamberComposition out;
  for (const v1::Contest& contest : definition.contests()) {
    if (!FillsSeats(contest)) continue;
    out.set_seats(out.seats() + contest.seats());
    const v1::SeatAllocation* allocation = nullptr;
    for (const v1::SeatAllocation* candidate : allocations) {
      if (candidate != nullptr && candidate->contest_id() == contest.id() &&
          AtContestScope(contest, *candidate)) {
        allocation = candidate;
        break;
      }
    }
    if (allocation == nullptr) {
      out.set_provisional(true);
      continue;
    }
    if (allocation->provisional()) out.set_provisional(true);
    out.set_revision(std::max(out.revision(), allocation->revision()));
    const bool list = contest.kind() == v1::CONTEST_KIND_PARTY_LIST;
    for (const v1::ChoiceSeats& choice : allocation->choices()) {
      if (choice.seats() == 0) continue;
      std::string party_id = choice.choice_id();
      if (!list) {
        party_id.clear();
        for (const v1::Choice& candidate : contest.choices()) {
          if (candidate.id() == choice.choice_id()) {
            party_id = candidate.party_id();
            break;
          }
        }
      }
      v1::PartySeats& row = row_of(party_id);
      if (list) {
        row.set_list_seats(row.list_seats() + choice.seats());
      } else {
        row.set_district_seats(row.district_seats() + choice.seats());
      }
      row.set_seats(row.seats() + choice.seats());
      out.set_allocated_seats(out.allocated_seats() + choice.seats());
    }
  }

  std::vector<const Row*> sorted;
  for (const auto& [id, row] : rows) {
    if (row.seats.seats() > 0) sorted.push_back(&row);
  }
  std::sort(sorted.begin(), sorted.end(), [](const Row* a, const Row* b) {
    return std::make_tuple(-static_cast<int64_t>(a->seats.seats()),
                           -static_cast<int64_t>(a->seats.list_seats()),
                           a->order) <
           std::make_tuple(-static_cast<int64_t>(b->seats.seats()),
                           -static_cast<int64_t>(b->seats.list_seats()),
                           b->order);
  });
  for (const Row* row : sorted) *out.add_parties() = row->seats;
  return out;
}

}  // namespace tally
