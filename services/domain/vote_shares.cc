#include "services/domain/vote_shares.h"

#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/domain/rational.h"

namespace tally {
namespace {

// An exact share, unreduced so that the denominator is the base itself.
void SetShare(uint64_t votes, uint64_t base, v1::Rational* share) {
  share->set_numerator(votes);
  share->set_denominator(base);
  share->set_decimal(Rational{votes, base}.ToDecimal(6));
}

}  // namespace

v1::VoteBase ResolvedVoteBase(v1::VoteBase base) {
  switch (base) {
    case v1::VOTE_BASE_VALID_VOTES:
    case v1::VOTE_BASE_BALLOTS_CAST:
      return base;
    default:
      return v1::VOTE_BASE_LIST_VOTES;
  }
}

std::optional<uint64_t> ShareBaseVotes(v1::VoteBase base,
                                       const v1::Totals& totals) {
  // 128-bit sums: counts are 64-bit each, so their sum is checked, never
  // wrapped.
  unsigned __int128 sum = 0;
  for (const v1::ChoiceTotal& choice : totals.choices()) sum += choice.votes();
  switch (ResolvedVoteBase(base)) {
    case v1::VOTE_BASE_BALLOTS_CAST:
      sum += totals.invalid();
      [[fallthrough]];
    case v1::VOTE_BASE_VALID_VOTES:
      sum += totals.against_all();
      break;
    default:
      break;
  }
  if (sum > std::numeric_limits<uint64_t>::max()) return std::nullopt;
  return static_cast<uint64_t>(sum);
}

void SetShares(const v1::Contest& contest, v1::Totals* totals) {
  const v1::VoteBase base = ResolvedVoteBase(contest.rule().share_base());
  totals->set_share_base(base);
  totals->clear_against_all_share();
  const std::optional<uint64_t> base_votes = ShareBaseVotes(base, *totals);
  const bool divisible = base_votes.has_value() && *base_votes > 0;
  for (v1::ChoiceTotal& choice : *totals->mutable_choices()) {
    if (divisible) {
      SetShare(choice.votes(), *base_votes, choice.mutable_share());
    } else {
      choice.clear_share();
    }
  }
  // "Against all" has a share only where it is part of the base: a share of
  // list votes for a line outside the list votes would be no percentage of
  // anything published.
  if (divisible && contest.against_all_on_ballot() &&
      base != v1::VOTE_BASE_LIST_VOTES) {
    SetShare(totals->against_all(), *base_votes,
             totals->mutable_against_all_share());
  }
}

std::string ShareBaseWords(const v1::Contest& contest) {
  const char* votes = contest.kind() == v1::CONTEST_KIND_PARTY_LIST
                          ? "party votes"
                          : "candidate votes";
  switch (ResolvedVoteBase(contest.rule().share_base())) {
    case v1::VOTE_BASE_BALLOTS_CAST:
      return "ballots cast";
    case v1::VOTE_BASE_VALID_VOTES:
      if (contest.against_all_on_ballot()) {
        return absl::StrCat(votes, " + against all");
      }
      return votes;
    default:
      return votes;
  }
}

}  // namespace tally
