// Protobuf JSON mapping with absl::Status results. Protobuf 3.21 reports
// through its own status type; this is the one place that converts it.
#ifndef TALLY_SERVICES_DOMAIN_PROTO_JSON_H_
#define TALLY_SERVICES_DOMAIN_PROTO_JSON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace tally {

// Parses JSON into `message`. Unknown fields are errors: a misspelt field
// must never be silently ignored. InvalidArgument with protobuf's reason.
absl::Status ParseJson(const std::string& json,
                       google::protobuf::Message* message);

struct JsonStyle {
  bool pretty = true;
  // Print fields at their default value too (zero counts, false flags), so
  // consumers see every field.
  bool print_defaults = false;
  // Map entries (a google.protobuf.Struct's keys among them) in key order
  // rather than the map's unspecified order, so that equal messages print
  // identically.
  bool sorted_maps = false;
};

// JSON with proto field names (snake_case), as the definition files use.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   JsonStyle style = {});

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_PROTO_JSON_H_
