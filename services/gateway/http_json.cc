#include "services/gateway/http_json.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "services/domain/proto_json.h"
#include "services/observability/json_text.h"

namespace tally::gateway {

int HttpStatusFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:  // a tree size beyond the log's
      return 400;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 503;
    default:
      return 502;
  }
}

std::string ErrorJson(absl::string_view message) {
  return absl::StrCat("{\"error\":", obs::JsonQuote(message), "}");
}

bool MessageJson(const google::protobuf::Message& message, std::string* json) {
  absl::StatusOr<std::string> text =
      ToJson(message, JsonStyle{.pretty = false, .print_defaults = true});
  if (!text.ok()) {
    *json = ErrorJson(absl::StrCat("cannot encode ", message.GetTypeName(),
                                   " as JSON: ", text.status().message()));
    return false;
  }
  *json = *std::move(text);
  return true;
}

}  // namespace tally::gateway
