// Flags every tally server shares (--admin_listen, --log_format), defined
// once so that their names and help read the same everywhere, and the
// start-up lines every server logs.
#ifndef TALLY_SERVICES_OBSERVABILITY_SERVER_FLAGS_H_
#define TALLY_SERVICES_OBSERVABILITY_SERVER_FLAGS_H_

#include <initializer_list>
#include <string>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/observability/structured_log.h"

ABSL_DECLARE_FLAG(std::string, admin_listen);
ABSL_DECLARE_FLAG(std::string, log_format);

namespace tally::obs {

// Logging for `service` in the --log_format format; on a bad format, one
// plain line on stderr and the error.
absl::Status ConfigureLoggingFromFlags(absl::string_view service);

// The serving line (`describe` starts with "serving on HOST:PORT", which
// scripts wait for) with `fields` and the version, then the admin
// endpoint's line when `admin_address` is not empty.
void LogServing(absl::string_view describe, absl::string_view admin_address,
                std::initializer_list<LogField> fields);

}  // namespace tally::obs

#endif  // TALLY_SERVICES_OBSERVABILITY_SERVER_FLAGS_H_
