// JSON bodies and status codes of the gateway's HTTP answers: gRPC statuses
// from the upstream become HTTP statuses, errors become {"error": "..."}.
#ifndef TALLY_SERVICES_GATEWAY_HTTP_JSON_H_
#define TALLY_SERVICES_GATEWAY_HTTP_JSON_H_

#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/status.h"

namespace tally::gateway {

// NOT_FOUND 404, INVALID_ARGUMENT 400, UNAVAILABLE and DEADLINE_EXCEEDED
// 503 (the upstream is down or slow: retry later), OK 200, anything else
// 502 (the upstream failed).
int HttpStatusFor(grpc::StatusCode code);

// {"error":"<message>"}
std::string ErrorJson(absl::string_view message);

// Compact one-line protobuf JSON mapping with proto field names and every
// field present (zero values too), so browsers never test for absence.
// The mapping itself cannot fail on a valid message; if it ever does, the
// caller gets false and `json` holds an error body.
bool MessageJson(const google::protobuf::Message& message, std::string* json);

}  // namespace tally::gateway

#endif  // TALLY_SERVICES_GATEWAY_HTTP_JSON_H_
