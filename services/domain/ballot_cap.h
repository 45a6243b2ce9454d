// The most ballots validation accepts from one station, and whether such a
// cap exists at all under a definition's ValidationPolicy. Shared by
// protocol validation (which enforces the cap) and by the seat ranges
// (which bound what is still to come by it), so the two cannot disagree.
// Pure functions; any thread.
#ifndef TALLY_SERVICES_DOMAIN_BALLOT_CAP_H_
#define TALLY_SERVICES_DOMAIN_BALLOT_CAP_H_

#include <cstdint>

#include "tally/v1/election.pb.h"

namespace tally {

// A station's register plus the allowed same-day additions, rounded down:
// registered + floor(registered * basis_points / 10000), saturating at
// 2^64 - 1. Validation's issued_le_registered and registered_matches rules
// compare with exactly this value.
uint64_t RegisterCap(uint64_t registered, uint32_t basis_points);

// RegisterCap of one station under the policy's same-day additions.
uint64_t StationBallotCap(const v1::PollingStation& station,
                          const v1::ValidationPolicy& policy);

// Whether validation caps the ballots counted in a station's protocol
// (votes for choices + against all + invalid) at StationBallotCap. It does
// when the three rules of the chain
//   counted == ballots_found        (votes_sum)
//   ballots_found <= ballots_issued (found_le_issued)
//   ballots_issued <= the cap       (issued_le_registered)
// all reject. When any of them is SEVERITY_ANOMALY a protocol breaking it is
// accepted, and a station can add any number of ballots (up to the form
// limit of 2^40 per line): there is no cap. The other accounting rules
// (issued_le_received, unused_balance, registered_matches) never bound the
// counted ballots once these three hold.
bool StationBallotsCapped(const v1::ValidationPolicy& policy);

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_BALLOT_CAP_H_
