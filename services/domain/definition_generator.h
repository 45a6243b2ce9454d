// Expands a DefinitionSpec (public facts: regions, districts, contests,
// national totals, relative district sizes) into a full ElectionDefinition
// with every polling station, reproducing the published totals exactly.
// Station-level registers are not public; their sizes are drawn from a
// seeded, platform-independent generator so the output is identical on every
// machine for the same spec and seed.
#ifndef TALLY_SERVICES_DOMAIN_DEFINITION_GENERATOR_H_
#define TALLY_SERVICES_DOMAIN_DEFINITION_GENERATOR_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "tally/v1/election.pb.h"
#include "tally/v1/tools.pb.h"

namespace tally {

absl::StatusOr<v1::ElectionDefinition> GenerateDefinition(
    const v1::DefinitionSpec& spec);

absl::StatusOr<v1::DefinitionSpec> ParseDefinitionSpecJson(
    const std::string& json);

// The reference election compiled into every binary (Kazakhstan, Mazhilis,
// 19 March 2023), expanded from deploy/elections/kz-2023.spec.json.
absl::StatusOr<v1::ElectionDefinition> EmbeddedDefaultDefinition();

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_DEFINITION_GENERATOR_H_
