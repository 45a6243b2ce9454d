// Reading and writing election definitions (protobuf JSON mapping).
#ifndef TALLY_SERVICES_DOMAIN_ELECTION_LOADER_H_
#define TALLY_SERVICES_DOMAIN_ELECTION_LOADER_H_

#include <string>

#include "absl/status/statusor.h"
#include "tally/v1/election.pb.h"

namespace tally {

// Parses JSON into a definition. Unknown fields are errors (a misspelt field
// must not be silently ignored). Does not validate: see ValidateDefinition.
absl::StatusOr<v1::ElectionDefinition> ParseDefinitionJson(
    const std::string& json);

// Reads a file, parses it and validates it. Errors name the file.
absl::StatusOr<v1::ElectionDefinition> LoadDefinitionFile(
    const std::string& path);

// Pretty JSON with proto field names.
absl::StatusOr<std::string> DefinitionToJson(
    const v1::ElectionDefinition& definition);

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_ELECTION_LOADER_H_
