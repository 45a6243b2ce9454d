#include "services/gateway/sse_stream.h"

#include <cstdint>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/message.h"
#include "services/gateway/http_json.h"

namespace tally::gateway {

std::string SseRetryFrame() {
  return absl::StrCat("retry: ", kSseRetryMs, "\n\n");
}

std::string SseCommentFrame(absl::string_view text) {
  std::string line(text);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return absl::StrCat(": ", line, "\n\n");
}

absl::StatusOr<std::string> SseFrame(const v1::WatchResponse& response) {
  const google::protobuf::Message* payload = nullptr;
  std::optional<uint64_t> id;
  switch (response.kind_case()) {
    case v1::WatchResponse::kEvent:
      payload = &response.event();
      id = response.event().revision();
      break;
    case v1::WatchResponse::kSnapshot:
      payload = &response.snapshot();
      break;
    case v1::WatchResponse::kSnapshotComplete:
      payload = &response.snapshot_complete();
      id = response.snapshot_complete().revision();
      break;
    case v1::WatchResponse::kProgress:
      payload = &response.progress();
      id = response.progress().revision();
      break;
    case v1::WatchResponse::kCompacted:
      payload = &response.compacted();
      break;
    case v1::WatchResponse::kResync:
      payload = &response.resync();
      break;
    case v1::WatchResponse::KIND_NOT_SET:
      return absl::InvalidArgumentError("a WatchResponse without a kind");
  }
  // The oneof field's name, as in the JSON mapping of WatchResponse.
  const std::string kind(
      v1::WatchResponse::descriptor()
          ->FindFieldByNumber(static_cast<int>(response.kind_case()))
          ->name());
  std::string json;
  if (!MessageJson(*payload, &json)) {
    return absl::InternalError(
        absl::StrCat("cannot encode a ", kind, " as JSON"));
  }
  std::string frame = absl::StrCat("event: ", kind, "\n");
  if (id.has_value()) absl::StrAppend(&frame, "id: ", *id, "\n");
  // Compact JSON has no line breaks (they are escaped inside strings, and
  // whitespace between tokens is insignificant); should one ever appear, it
  // must not end the data field early: one data line per piece.
  for (absl::string_view line :
       absl::StrSplit(json, absl::ByAnyChar("\r\n"), absl::SkipEmpty())) {
    absl::StrAppend(&frame, "data: ", line, "\n");
  }
  frame += "\n";
  return frame;
}

}  // namespace tally::gateway
