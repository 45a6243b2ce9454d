#include "services/domain/proto_json.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver.h"
#include "google/protobuf/util/type_resolver_util.h"
#include "services/common/echo.h"

namespace tally {
namespace {

constexpr char kTypeUrlPrefix[] = "type.googleapis.com";

// Protobuf's parse errors span three lines: the reason, the offending input
// line and a caret under the position. Errors here are one line, so keep the
// reason and quote the input near the caret.
std::string OneLine(const std::string& message) {
  std::vector<std::string> lines = absl::StrSplit(message, '\n');
  if (lines.size() < 3) return std::string(absl::StripAsciiWhitespace(message));
  const std::string& input = lines[1];
  absl::string_view reason = absl::StripAsciiWhitespace(lines[0]);
  absl::ConsumeSuffix(&reason, ".");
  if (absl::StripAsciiWhitespace(input).empty()) return std::string(reason);
  const size_t caret = std::min(lines[2].find('^'), input.size());
  const size_t begin = caret > 20 ? caret - 20 : 0;
  return absl::StrCat(reason, " at column ", caret + 1, " near ",
                      common::QuoteEcho(input.substr(begin, 40)));
}

}  // namespace

absl::Status ParseJson(const std::string& json,
                       google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status =
      google::protobuf::util::JsonStringToMessage(json, message, options);
  if (status.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(OneLine(std::string(status.message())));
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   JsonStyle style) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = style.pretty;
  options.always_print_primitive_fields = style.print_defaults;
  options.preserve_proto_field_names = true;
  std::string json;
  if (style.sorted_maps) {
    // Deterministic serialization orders map entries by key, and the JSON
    // printer keeps the order of the binary form.
    std::string binary;
    {
      google::protobuf::io::StringOutputStream stream(&binary);
      google::protobuf::io::CodedOutputStream coded(&stream);
      coded.SetSerializationDeterministic(true);
      if (!message.SerializeToCodedStream(&coded)) {
        return absl::InternalError(absl::StrCat(
            "cannot serialize ", message.GetDescriptor()->full_name()));
      }
    }
    static google::protobuf::util::TypeResolver* const resolver =
        google::protobuf::util::NewTypeResolverForDescriptorPool(
            kTypeUrlPrefix, google::protobuf::DescriptorPool::generated_pool());
    const auto status = google::protobuf::util::BinaryToJsonString(
        resolver,
        absl::StrCat(kTypeUrlPrefix, "/", message.GetDescriptor()->full_name()),
        binary, &json, options);
    if (!status.ok()) return absl::InternalError(std::string(status.message()));
    return json;
  }
  const auto status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) return absl::InternalError(std::string(status.message()));
  return json;
}

}  // namespace tally
