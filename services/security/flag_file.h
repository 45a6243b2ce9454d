// Reads a file named by a command-line flag (certificates, keys, collector
// identities, station tokens), with errors that name the flag and the path.
#ifndef TALLY_SERVICES_SECURITY_FLAG_FILE_H_
#define TALLY_SERVICES_SECURITY_FLAG_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace tally::security {

// The whole file; INVALID_ARGUMENT "FLAG PATH: cannot read: REASON" when it
// cannot be opened or read.
absl::StatusOr<std::string> ReadFlagFile(const std::string& path,
                                         const std::string& flag);

}  // namespace tally::security

#endif  // TALLY_SERVICES_SECURITY_FLAG_FILE_H_
