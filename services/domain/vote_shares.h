// The published percentages of a contest: each choice's (and "against
// all"'s) exact share of the base the contest names in its rule
// (AllocationRule.share_base), set on the Totals the aggregator publishes so
// that no client re-derives them.
//
// Invariants: a share is votes / base votes as an exact, unreduced Rational
// (numerator = votes, denominator = the base's votes), so every share of one
// Totals has the same denominator; shares are unset while the base is 0. The
// shares depend only on the counts of the Totals and on the definition, so
// every replica computes the same ones; they are not part of the totals
// digest (services/transparency/totals_digest.h), which binds the counts.
// Pure functions; any thread.
#ifndef TALLY_SERVICES_DOMAIN_VOTE_SHARES_H_
#define TALLY_SERVICES_DOMAIN_VOTE_SHARES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "tally/v1/election.pb.h"
#include "tally/v1/results.pb.h"

namespace tally {

// The base an unspecified (or unknown) VoteBase stands for: list votes.
v1::VoteBase ResolvedVoteBase(v1::VoteBase base);

// The votes of `base` in `totals`: the sum of the choices' votes
// (VOTE_BASE_LIST_VOTES), plus against_all (VOTE_BASE_VALID_VOTES), plus
// invalid (VOTE_BASE_BALLOTS_CAST). nullopt when the sum does not fit in 64
// bits (no real election comes near).
std::optional<uint64_t> ShareBaseVotes(v1::VoteBase base,
                                       const v1::Totals& totals);

// Sets totals->share_base to the contest's resolved share_base and, when its
// votes are above 0, every ChoiceTotal.share and (when "against all" is on
// the ballot and part of the base) against_all_share; clears them
// otherwise. Reads only the counts already in `totals`.
void SetShares(const v1::Contest& contest, v1::Totals* totals);

// Words naming the contest's share base for people, as tallyctl prints it
// and the page shows it: "party votes" (PARTY_LIST) or "candidate votes",
// "... + against all" (VOTE_BASE_VALID_VOTES with "against all" on the
// ballot), or "ballots cast".
std::string ShareBaseWords(const v1::Contest& contest);

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_VOTE_SHARES_H_
