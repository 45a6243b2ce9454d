// A copy of an absl::Status that shares nothing with the original.
//
// Copying an absl::Status shares its message and counts the references
// partly inside Debian's Abseil, which is not built with ThreadSanitizer.
// A status that one thread replaces under a mutex while others still hold
// copies of it would then look like a data race on the shared message. A
// getter that hands out such a status returns a detached copy instead: its
// own code and message, nothing shared.
#ifndef TALLY_SERVICES_COMMON_STATUS_COPY_H_
#define TALLY_SERVICES_COMMON_STATUS_COPY_H_

#include "absl/status/status.h"

namespace tally {

inline absl::Status DetachedCopy(const absl::Status& status) {
  return absl::Status(status.code(), status.message());
}

}  // namespace tally

#endif  // TALLY_SERVICES_COMMON_STATUS_COPY_H_
