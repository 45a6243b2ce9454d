// Checks shared by the whole-night tests: comparisons of what an aggregator
// reports against sums of the reference election's true protocols
// (reference_election.h) computed independently of the aggregator's code.
#ifndef TALLY_TESTS_SUPPORT_ELECTION_CHECKS_H_
#define TALLY_TESTS_SUPPORT_ELECTION_CHECKS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/domain/election_index.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/tools.pb.h"
#include "tests/support/reference_election.h"

namespace tally::testing {

// Every contest and scope, from GetResults with all_scopes.
absl::StatusOr<v1::GetResultsResponse> AllResults(v1::Aggregator::Stub& stub,
                                                  absl::Duration timeout);

// How many (contest, scope) totals an aggregator keeps: a national contest
// has national, every region and every district; a district contest its
// district.
size_t ExpectedScopeCount(const ElectionIndex& index);

// Every reported totals entry equals the truth summed independently, and
// every expected scope is reported exactly once (gtest expectations).
void ExpectAllTotalsEqualTruth(const ReferenceElection& ref,
                               const v1::GetResultsResponse& results);

// The national list has the official 2023 seats, final (bounds collapsed).
void ExpectOfficialListSeats(const v1::GetResultsResponse& results);

// The target contest's published national shares are the official
// percentages of ref.target (deploy/elections/NAME.result.json: "percent",
// and "against_all_percent" when against all is on the ballot) when rounded
// half up to as many decimals, of the base the contest's share_base names
// (party votes + against all in 2023), whose votes are the target's. Needs
// official truth and a final night.
void ExpectOfficialPercentages(const ReferenceElection& ref,
                               const v1::GetResultsResponse& results);

// Seats by nominating party over every contest (ComputeComposition) are
// the official final composition of the Mazhilis
// (deploy/elections/kz-2023.composition.json: Amanat 62, Auyl 8,
// self-nominated 7, Respublica 6, Aq Jol 6, People's Party 5, JSDP 4).
// Needs Truth::kOfficialResult (its district winners) and a final night.
void ExpectOfficialComposition(const ReferenceElection& ref,
                               const v1::GetResultsResponse& results);

// The target contest's national allocation is final and exactly the
// official seats of ref.target ("seats": choice id -> seats, the winner's 1
// for a single-winner contest).
void ExpectOfficialOutcome(const ReferenceElection& ref,
                           const v1::GetResultsResponse& results);

// The aggregator's online recount.
absl::StatusOr<v1::VerifyResponse> VerifyOnline(v1::Aggregator::Stub& stub,
                                                absl::Duration timeout);

}  // namespace tally::testing

#endif  // TALLY_TESTS_SUPPORT_ELECTION_CHECKS_H_
