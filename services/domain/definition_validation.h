// Structural validation of an election definition. Every error names the
// offending entry and the rule it breaks, e.g.
//   stations[17] (id 1018): district_id "d-31" is not a defined district
#ifndef TALLY_SERVICES_DOMAIN_DEFINITION_VALIDATION_H_
#define TALLY_SERVICES_DOMAIN_DEFINITION_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tally/v1/election.pb.h"

namespace tally {

// All problems found, in definition order; empty when valid.
std::vector<std::string> DefinitionProblems(
    const v1::ElectionDefinition& definition);

// OK, or InvalidArgument whose message is the first problem followed by
// " (and N more problems)" when there are several ("problem" when N is 1).
absl::Status ValidateDefinition(const v1::ElectionDefinition& definition);

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_DEFINITION_VALIDATION_H_
