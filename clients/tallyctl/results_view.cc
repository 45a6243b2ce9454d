#include "clients/tallyctl/results_view.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/domain/scope_text.h"
#include "services/domain/vote_shares.h"

namespace tally::cli {

ElectionNames::ElectionNames(const v1::ElectionDefinition& definition)
    : definition_(definition) {
  for (const v1::Contest& contest : definition_.contests()) {
    contests_[contest.id()] = &contest;
  }
  for (const v1::Region& region : definition_.regions()) {
    regions_[region.id()] = region.name();
  }
  for (const v1::District& district : definition_.districts()) {
    districts_[district.id()] = district.name();
  }
}

const v1::Contest* ElectionNames::contest(const std::string& id) const {
  auto it = contests_.find(id);
  return it == contests_.end() ? nullptr : it->second;
}

std::string ElectionNames::choice(const std::string& contest_id,
                                  const std::string& choice_id) const {
  if (const v1::Contest* c = contest(contest_id)) {
    for (const v1::Choice& choice : c->choices()) {
      if (choice.id() == choice_id) return choice.name();
    }
  }
  return choice_id;
}

std::string ElectionNames::scope(const v1::Scope& scope) const {
  const auto& names =
      scope.kind() == v1::SCOPE_KIND_REGION ? regions_ : districts_;
  auto it = names.find(scope.id());
  return it == names.end() ? ScopeText(scope) : it->second;
}

std::string Percent(uint64_t num, uint64_t den) {
  if (den == 0) return "-";
  // Two decimals, rounded half up, in integers.
  const unsigned __int128 scaled =
      (static_cast<unsigned __int128>(num) * 20000 + den) / (2 * den);
  const uint64_t value = static_cast<uint64_t>(scaled);
  return absl::StrFormat("%d.%02d", value / 100, value % 100);
}

std::string Grouped(uint64_t value) {
  std::string digits = absl::StrCat(value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

namespace {

// A published share in percent ("53.90"), "-" when there is none (the
// base is still 0).
std::string ShareText(bool has_share, const v1::Rational& share) {
  return has_share ? Percent(share.numerator(), share.denominator()) : "-";
}

// "% of party votes + against all (6,366,441)": what the % column is a share
// of, with the base's votes (every share's denominator) once counted.
std::string ShareBaseLine(const v1::Contest* contest,
                          const v1::Totals& totals) {
  std::string words = contest != nullptr
                          ? ShareBaseWords(*contest)
                          : v1::VoteBase_Name(totals.share_base());
  for (const v1::ChoiceTotal& choice : totals.choices()) {
    if (choice.has_share()) {
      return absl::StrCat("% of ", words, " (",
                          Grouped(choice.share().denominator()), ")");
    }
  }
  return absl::StrCat("% of ", words);
}

const v1::ChoiceSeats* SeatsOf(const v1::SeatAllocation* allocation,
                               const std::string& choice_id) {
  if (allocation == nullptr) return nullptr;
  for (const v1::ChoiceSeats& seats : allocation->choices()) {
    if (seats.choice_id() == choice_id) return &seats;
  }
  return nullptr;
}

std::string Header(const ElectionNames& names, const v1::Totals& totals,
                   const v1::SeatAllocation* allocation) {
  const v1::Contest* contest = names.contest(totals.contest_id());
  std::string status;
  if (allocation != nullptr) {
    status = allocation->provisional() ? "PROVISIONAL" : "FINAL";
    if (allocation->decided()) {
      absl::StrAppend(&status, ", DECIDED at revision ",
                      allocation->decided_revision());
    }
  }
  return absl::StrCat(
      contest != nullptr ? contest->name() : totals.contest_id(), " [",
      totals.contest_id(), "], ", names.scope(totals.scope()),
      status.empty() ? "" : absl::StrCat(", ", status));
}

}  // namespace

std::string RenderContest(const ElectionNames& names, const v1::Totals& totals,
                          const v1::SeatAllocation* allocation) {
  std::string out = Header(names, totals, allocation);
  absl::StrAppend(&out, "\n");
  absl::StrAppendFormat(
      &out, "reported %s of %s stations (%s%%), turnout %s%% (%s of %s)\n",
      Grouped(totals.stations_reported()), Grouped(totals.stations_expected()),
      Percent(totals.stations_reported(), totals.stations_expected()),
      Percent(totals.ballots_issued(), totals.registered_voters()),
      Grouped(totals.ballots_issued()), Grouped(totals.registered_voters()));
  const v1::Contest* contest = names.contest(totals.contest_id());
  const bool seats = allocation != nullptr;
  absl::StrAppendFormat(&out, "%s\n", ShareBaseLine(contest, totals));
  absl::StrAppendFormat(&out, "  %-40s %12s %7s%s\n", "", "votes", "%",
                        seats ? "  seats  range" : "");
  std::vector<const v1::ChoiceTotal*> rows;
  for (const v1::ChoiceTotal& choice : totals.choices())
    rows.push_back(&choice);
  std::stable_sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) {
    return a->votes() > b->votes();
  });
  for (const v1::ChoiceTotal* choice : rows) {
    std::string seat_text;
    if (const v1::ChoiceSeats* s = SeatsOf(allocation, choice->choice_id())) {
      seat_text = absl::StrFormat("  %5d", s->seats());
      if (allocation->provisional() && s->max_seats() >= s->min_seats() &&
          (s->min_seats() != s->seats() || s->max_seats() != s->seats())) {
        absl::StrAppendFormat(&seat_text, "  %d-%d", s->min_seats(),
                              s->max_seats());
      }
      // A certain seat count while stations are outstanding: "decided".
      if (allocation->provisional() &&
          allocation->range_basis() == v1::RANGE_BASIS_BALLOT_CAP &&
          s->min_seats() == s->max_seats()) {
        seat_text += "  decided";
      }
      if (!s->passed_threshold() && s->votes() > 0)
        seat_text += "  below threshold";
    }
    absl::StrAppendFormat(
        &out, "  %-40s %12s %7s%s\n",
        names.choice(totals.contest_id(), choice->choice_id()),
        Grouped(choice->votes()),
        ShareText(choice->has_share(), choice->share()), seat_text);
  }
  if (contest != nullptr && contest->against_all_on_ballot()) {
    // No share when "against all" is outside the base (list votes).
    const bool in_base = totals.share_base() != v1::VOTE_BASE_LIST_VOTES &&
                         totals.share_base() != v1::VOTE_BASE_UNSPECIFIED;
    absl::StrAppendFormat(&out, "  %-40s %12s %7s\n", "against all",
                          Grouped(totals.against_all()),
                          in_base ? ShareText(totals.has_against_all_share(),
                                              totals.against_all_share())
                                  : "");
  }
  absl::StrAppendFormat(&out, "  %-40s %12s\n", "invalid",
                        Grouped(totals.invalid()));
  if (allocation != nullptr) {
    switch (allocation->status()) {
      case v1::ALLOCATION_STATUS_NO_VOTES:
        absl::StrAppend(&out, "  no votes yet\n");
        break;
      case v1::ALLOCATION_STATUS_NO_LIST_PASSED:
        absl::StrAppend(&out, "  no list has passed the threshold\n");
        break;
      case v1::ALLOCATION_STATUS_RUNOFF_REQUIRED:
        absl::StrAppend(&out, "  runoff required\n");
        break;
      case v1::ALLOCATION_STATUS_AGAINST_ALL_PREVAILED:
        absl::StrAppend(&out, "  against all prevailed: no winner\n");
        break;
      default:
        break;
    }
    if (allocation->threshold_votes() > 0) {
      absl::StrAppendFormat(&out, "  threshold: %s votes\n",
                            Grouped(allocation->threshold_votes()));
    }
    absl::StrAppend(&out, "  ", DecisionLine(names, *allocation), "\n");
    const v1::LastSeat& last = allocation->last_seat();
    if (!last.runner_up_choice_id().empty()) {
      absl::StrAppendFormat(
          &out, "  last seat: %s; %s needs %s more votes to take it\n",
          names.choice(totals.contest_id(), last.winner_choice_id()),
          names.choice(totals.contest_id(), last.runner_up_choice_id()),
          Grouped(last.margin_votes()));
    }
  }
  if (totals.stations_with_anomalies() > 0) {
    absl::StrAppendFormat(&out, "  %d reported stations carry anomaly flags\n",
                          totals.stations_with_anomalies());
  }
  return out;
}

std::string RenderContestLine(const ElectionNames& names,
                              const v1::Totals& totals,
                              const v1::SeatAllocation* allocation) {
  const v1::ChoiceTotal* leader = nullptr;
  for (const v1::ChoiceTotal& choice : totals.choices()) {
    if (leader == nullptr || choice.votes() > leader->votes()) leader = &choice;
  }
  std::string lead = "no votes yet";
  if (leader != nullptr && leader->votes() > 0) {
    lead =
        absl::StrCat(names.choice(totals.contest_id(), leader->choice_id()),
                     " ", ShareText(leader->has_share(), leader->share()), "%");
    if (allocation != nullptr &&
        allocation->status() == v1::ALLOCATION_STATUS_AGAINST_ALL_PREVAILED) {
      lead = "against all leads";
    }
  }
  const v1::Contest* contest = names.contest(totals.contest_id());
  std::string badge;
  if (allocation != nullptr && !allocation->provisional()) {
    badge = ", final";
  } else if (allocation != nullptr && allocation->decided()) {
    badge = ", decided";
  }
  return absl::StrFormat(
      "  %-52s %-36s %6s%% reported%s\n",
      contest != nullptr ? contest->name() : totals.contest_id(), lead,
      Percent(totals.stations_reported(), totals.stations_expected()), badge);
}

std::string DecisionLine(const ElectionNames& names,
                         const v1::SeatAllocation& allocation) {
  if (allocation.decided()) {
    std::string out =
        absl::StrCat("decided at revision ", allocation.decided_revision());
    if (!allocation.decided_winner_choice_id().empty()) {
      absl::StrAppend(&out, ": ",
                      names.choice(allocation.contest_id(),
                                   allocation.decided_winner_choice_id()),
                      " wins");
    }
    if (allocation.provisional()) {
      absl::StrAppend(&out, " (every seat certain with ",
                      Grouped(allocation.outstanding_ballots()),
                      " ballots outstanding)");
    }
    return out;
  }
  std::string out = absl::StrCat("seats still open: ", allocation.seats_open(),
                                 " of ", allocation.seats());
  switch (allocation.range_basis()) {
    case v1::RANGE_BASIS_BALLOT_CAP:
      absl::StrAppend(&out, " (", Grouped(allocation.outstanding_ballots()),
                      " ballots outstanding)");
      break;
    case v1::RANGE_BASIS_UNBOUNDED:
      absl::StrAppend(&out, " (nothing bounds the stations still to report)");
      break;
    default:
      break;
  }
  return out;
}

std::string RenderDecisionSummary(
    const ElectionNames& names,
    const std::vector<const v1::SeatAllocation*>& allocations) {
  uint32_t contests = 0;
  uint32_t decided = 0;
  uint64_t seats = 0;
  uint64_t open = 0;
  for (const v1::SeatAllocation* allocation : allocations) {
    const v1::Contest* contest = names.contest(allocation->contest_id());
    // Presidential contests fill no seat of the chamber.
    if (contest != nullptr &&
        contest->kind() == v1::CONTEST_KIND_PRESIDENTIAL_MAJORITY) {
      continue;
    }
    ++contests;
    if (allocation->decided()) ++decided;
    seats += allocation->seats();
    open += allocation->seats_open();
  }
  return absl::StrFormat(
      "Decided: %d of %d contests; seats still open: %d of %d\n", decided,
      contests, open, seats);
}

std::string RenderDecidedChange(const ElectionNames& names,
                                const v1::SeatAllocation& allocation,
                                const v1::Progress& progress) {
  const v1::Contest* contest = names.contest(allocation.contest_id());
  const std::string name =
      contest != nullptr ? contest->name() : allocation.contest_id();
  if (!allocation.decided()) {
    return absl::StrCat("revision ", allocation.revision(), ": ", name, " [",
                        allocation.contest_id(),
                        "] is no longer decided (a correction re-opened it); "
                        "seats still open: ",
                        allocation.seats_open(), "\n");
  }
  std::string out =
      absl::StrCat("revision ", allocation.decided_revision(), ": ", name, " [",
                   allocation.contest_id(), "] decided");
  if (!allocation.decided_winner_choice_id().empty()) {
    absl::StrAppend(&out, ", ",
                    names.choice(allocation.contest_id(),
                                 allocation.decided_winner_choice_id()),
                    " wins");
  }
  if (progress.stations_expected() > 0) {
    absl::StrAppend(
        &out, ", with ",
        Percent(progress.stations_reported(), progress.stations_expected()),
        "% of stations reported");
  }
  return absl::StrCat(out, "\n");
}

std::string RenderComposition(const v1::ChamberComposition& composition) {
  std::string out = absl::StrFormat(
      "Chamber composition: %d of %d seats allocated%s\n",
      composition.allocated_seats(), composition.seats(),
      composition.provisional() ? " (provisional)" : " (final)");
  absl::StrAppendFormat(&out, "  %-40s %5s %9s %5s\n", "party", "list",
                        "districts", "seats");
  for (const v1::PartySeats& party : composition.parties()) {
    absl::StrAppendFormat(&out, "  %-40s %5d %9d %5d\n", party.name(),
                          party.list_seats(), party.district_seats(),
                          party.seats());
  }
  return out;
}

}  // namespace tally::cli
