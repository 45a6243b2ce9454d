// The published form (tally.v1 forensics.proto) of the election forensics
// statistics and flags (forensics.h). Pure functions; any thread.
#ifndef TALLY_SERVICES_DOMAIN_FORENSICS_MESSAGES_H_
#define TALLY_SERVICES_DOMAIN_FORENSICS_MESSAGES_H_

#include <vector>

#include "services/domain/forensics.h"
#include "tally/v1/election.pb.h"
#include "tally/v1/forensics.pb.h"
#include "tally/v1/results.pb.h"

namespace tally {

v1::ForensicsFlag FlagMessage(const ForensicsFlag& flag);
std::vector<v1::ForensicsFlag> FlagMessages(
    const std::vector<ForensicsFlag>& flags);

// The statistics of one (contest, scope): every choice in the contest's
// order, and the fingerprint of the leading choice (non-empty cells in
// turnout-bin, then share-bin order) with its tail beyond `tail_sigmas`.
v1::ScopeForensics ScopeForensicsMessage(
    const ScopeForensics& statistics, const v1::Contest& contest,
    const v1::Scope& scope, uint64_t revision,
    double tail_sigmas = ForensicsThresholds().tail_sigmas);

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_FORENSICS_MESSAGES_H_
