#include "services/domain/contest_allocation.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "services/domain/ballot_cap.h"
#include "services/domain/seat_bounds.h"
#include "services/domain/seat_decision.h"

namespace tally {

absl::StatusOr<seats::Method> FromProto(v1::AllocationMethod method) {
  switch (method) {
    case v1::ALLOCATION_METHOD_HARE:
      return seats::Method::kHare;
    case v1::ALLOCATION_METHOD_DROOP:
      return seats::Method::kDroop;
    case v1::ALLOCATION_METHOD_DHONDT:
      return seats::Method::kDHondt;
    case v1::ALLOCATION_METHOD_SAINTE_LAGUE:
      return seats::Method::kSainteLague;
    case v1::ALLOCATION_METHOD_MODIFIED_SAINTE_LAGUE:
      return seats::Method::kModifiedSainteLague;
    case v1::ALLOCATION_METHOD_PLURALITY:
      return seats::Method::kPlurality;
    case v1::ALLOCATION_METHOD_ABSOLUTE_MAJORITY:
      return seats::Method::kAbsoluteMajority;
    default:
      return absl::InvalidArgumentError(absl::StrCat("allocation method ",
                                                     static_cast<int>(method),
                                                     " is not set or unknown"));
  }
}

seats::VoteBase FromProto(v1::VoteBase base) {
  switch (base) {
    case v1::VOTE_BASE_VALID_VOTES:
      return seats::VoteBase::kValidVotes;
    case v1::VOTE_BASE_BALLOTS_CAST:
      return seats::VoteBase::kBallotsCast;
    default:  // UNSPECIFIED means list votes (documented in the proto).
      return seats::VoteBase::kListVotes;
  }
}

seats::TieRule FromProto(v1::TieRule rule) {
  return rule == v1::TIE_RULE_LOWEST_ID ? seats::TieRule::kLowestId
                                        : seats::TieRule::kLot;
}

v1::AllocationMethod ToProto(seats::Method method) {
  switch (method) {
    case seats::Method::kHare:
      return v1::ALLOCATION_METHOD_HARE;
    case seats::Method::kDroop:
      return v1::ALLOCATION_METHOD_DROOP;
    case seats::Method::kDHondt:
      return v1::ALLOCATION_METHOD_DHONDT;
    case seats::Method::kSainteLague:
      return v1::ALLOCATION_METHOD_SAINTE_LAGUE;
    case seats::Method::kModifiedSainteLague:
      return v1::ALLOCATION_METHOD_MODIFIED_SAINTE_LAGUE;
    case seats::Method::kPlurality:
      return v1::ALLOCATION_METHOD_PLURALITY;
    case seats::Method::kAbsoluteMajority:
      return v1::ALLOCATION_METHOD_ABSOLUTE_MAJORITY;
  }
  return v1::ALLOCATION_METHOD_UNSPECIFIED;
}

v1::AllocationStatus ToProto(seats::Status status) {
  switch (status) {
    case seats::Status::kAllocated:
      return v1::ALLOCATION_STATUS_ALLOCATED;
    case seats::Status::kNoVotes:
      return v1::ALLOCATION_STATUS_NO_VOTES;
    case seats::Status::kNoListPassed:
      return v1::ALLOCATION_STATUS_NO_LIST_PASSED;
    case seats::Status::kRunoffRequired:
      return v1::ALLOCATION_STATUS_RUNOFF_REQUIRED;
    case seats::Status::kAgainstAllPrevailed:
      return v1::ALLOCATION_STATUS_AGAINST_ALL_PREVAILED;
  }
  return v1::ALLOCATION_STATUS_UNSPECIFIED;
}

v1::Rational ToProto(const Rational& value) {
  v1::Rational out;
  const Rational reduced = value.den == 0 ? value : value.Reduced();
  out.set_numerator(reduced.num);
  out.set_denominator(reduced.den);
  if (reduced.den != 0) out.set_decimal(reduced.ToDecimal(6));
  return out;
}

absl::StatusOr<seats::Input> AllocationInputFor(const v1::Contest& contest,
                                                const v1::Totals& totals) {
  absl::StatusOr<seats::Method> method = FromProto(contest.rule().method());
  if (!method.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "contest \"", contest.id(), "\": ", method.status().message()));
  }
  seats::Input input;
  input.method = *method;
  input.seats = contest.seats();
  input.threshold_base = FromProto(contest.rule().threshold_base());
  input.majority_base = FromProto(contest.rule().majority_base());
  input.tie_rule = FromProto(contest.rule().tie_rule());
  input.tie_seed = contest.rule().tie_seed();
  const std::string& percent = contest.rule().threshold_percent();
  if (!percent.empty()) {
    absl::StatusOr<Rational> share = seats::ParsePercent(percent);
    if (!share.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("contest \"", contest.id(),
                       "\": threshold_percent: ", share.status().message()));
    }
    input.threshold = *share;
  }
  absl::flat_hash_map<std::string, uint64_t> votes;
  for (const v1::ChoiceTotal& choice : totals.choices()) {
    votes[choice.choice_id()] += choice.votes();
  }
  input.choices.reserve(contest.choices_size());
  for (const v1::Choice& choice : contest.choices()) {
    auto it = votes.find(choice.id());
    input.choices.push_back(
        {choice.id(), it == votes.end() ? uint64_t{0} : it->second});
  }
  input.against_all = totals.against_all();
  input.invalid = totals.invalid();
  return input;
}

void FillAllocation(const seats::Input& input, const seats::Result& result,
                    v1::SeatAllocation* allocation) {
  allocation->set_method(ToProto(input.method));
  allocation->set_seats(input.seats);
  allocation->set_status(ToProto(result.status));
  allocation->clear_choices();
  for (const seats::ChoiceResult& choice : result.choices) {
    v1::ChoiceSeats* out = allocation->add_choices();
    out->set_choice_id(choice.id);
    out->set_votes(choice.votes);
    out->set_seats(choice.seats);
    out->set_passed_threshold(choice.passed_threshold);
    // With no votes outstanding the bounds are the seats themselves; the
    // aggregator widens them while stations are still to report.
    out->set_min_seats(choice.seats);
    out->set_max_seats(choice.seats);
    *out->mutable_quotient() = ToProto(choice.quotient);
    *out->mutable_remainder() = ToProto(choice.remainder);
  }
  *allocation->mutable_quota() = ToProto(result.quota);
  allocation->set_threshold_base_votes(result.threshold_base_votes);
  allocation->set_threshold_votes(result.threshold_votes);
  allocation->clear_last_seat();
  if (result.last_seat.has_value()) {
    v1::LastSeat* last = allocation->mutable_last_seat();
    last->set_winner_choice_id(result.last_seat->winner);
    last->set_runner_up_choice_id(result.last_seat->runner_up);
    last->set_margin_votes(result.last_seat->margin_votes);
  }
  allocation->clear_runoff_choice_ids();
  for (const std::string& id : result.runoff) {
    allocation->add_runoff_choice_ids(id);
  }
  allocation->clear_tie_breaks();
  for (const std::string& note : result.tie_breaks) {
    allocation->add_tie_breaks(note);
  }
}

absl::StatusOr<v1::SeatAllocation> AllocateContest(const v1::Contest& contest,
                                                   const v1::Totals& totals) {
  absl::StatusOr<seats::Input> input = AllocationInputFor(contest, totals);
  if (!input.ok()) return input.status();
  absl::StatusOr<seats::Result> result = seats::Allocate(*input);
  if (!result.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "contest \"", contest.id(), "\": ", result.status().message()));
  }
  v1::SeatAllocation allocation;
  allocation.set_contest_id(contest.id());
  *allocation.mutable_scope() = totals.scope();
  FillAllocation(*input, *result, &allocation);
  allocation.set_provisional(totals.stations_reported() <
                             totals.stations_expected());
  allocation.set_revision(totals.revision());
  return allocation;
}

namespace {

// PublishedAllocation without the decision fields.
v1::SeatAllocation RangedAllocation(const v1::Contest& contest,
                                    const v1::ValidationPolicy& policy,
                                    const v1::Totals& totals) {
  v1::SeatAllocation allocation;
  absl::StatusOr<seats::Input> input = AllocationInputFor(contest, totals);
  absl::StatusOr<seats::Result> result =
      input.ok() ? seats::Allocate(*input)
                 : absl::StatusOr<seats::Result>(input.status());
  allocation.set_contest_id(contest.id());
  *allocation.mutable_scope() = totals.scope();
  allocation.set_revision(totals.revision());
  const bool outstanding_stations =
      totals.stations_reported() < totals.stations_expected();
  allocation.set_provisional(outstanding_stations);
  if (!result.ok()) {
    // The definition was validated, so this means votes beyond the exact
    // arithmetic's range; publish the totals without seats rather than
    // stopping ingestion.
    allocation.set_status(v1::ALLOCATION_STATUS_UNSPECIFIED);
    allocation.add_tie_breaks(
        absl::StrCat("allocation unavailable: ", result.status().message()));
    return allocation;
  }
  FillAllocation(*input, *result, &allocation);
  if (!outstanding_stations) {
    allocation.set_range_basis(v1::RANGE_BASIS_FINAL);
    return allocation;
  }
  if (!StationBallotsCapped(policy)) {
    // Validation accepts a protocol with any number of ballots: every
    // choice can still win every seat or none.
    allocation.set_range_basis(v1::RANGE_BASIS_UNBOUNDED);
    for (v1::ChoiceSeats& choice : *allocation.mutable_choices()) {
      choice.set_min_seats(0);
      choice.set_max_seats(allocation.seats());
    }
    return allocation;
  }
  // The most validation can still accept: the caps of the stations that
  // have not reported, from the definition's registers (never from what
  // the reported protocols state).
  const uint64_t outstanding =
      totals.ballot_cap_expected() > totals.ballot_cap_reported()
          ? totals.ballot_cap_expected() - totals.ballot_cap_reported()
          : 0;
  allocation.set_range_basis(v1::RANGE_BASIS_BALLOT_CAP);
  allocation.set_outstanding_ballots(outstanding);
  absl::StatusOr<std::vector<seats::SeatRange>> bounds =
      seats::SeatBounds(*input, outstanding);
  for (int i = 0; i < allocation.choices_size(); ++i) {
    v1::ChoiceSeats* choice = allocation.mutable_choices(i);
    // SeatBounds fails only where Allocate did, which it did not; should
    // it ever, the trivial range is the sound one.
    const seats::SeatRange range =
        bounds.ok() ? (*bounds)[static_cast<size_t>(i)]
                    : seats::SeatRange{0, allocation.seats()};
    choice->set_min_seats(range.min);
    choice->set_max_seats(range.max);
  }
  return allocation;
}

}  // namespace

v1::SeatAllocation PublishedAllocation(const v1::Contest& contest,
                                       const v1::ValidationPolicy& policy,
                                       const v1::Totals& totals) {
  v1::SeatAllocation allocation = RangedAllocation(contest, policy, totals);
  MarkDecision(&allocation);
  return allocation;
}

}  // namespace tally
