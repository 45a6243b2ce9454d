#include "services/gateway/http_json.h"

#include <cstdio>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "services/domain/proto_json.h"

namespace tally::gateway {

int HttpStatusFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return 400;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 503;
    default:
      return 502;
  }
}

std::string JsonQuote(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x",
                        static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += escaped;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string ErrorJson(absl::string_view message) {
  return absl::StrCat("{\"error\":", JsonQuote(message), "}");
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
