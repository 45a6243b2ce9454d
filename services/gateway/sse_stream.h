// Feed.Watch messages as Server-Sent Events. Each WatchResponse is one SSE
// message named after its oneof field (event, snapshot, snapshot_complete,
// progress, compacted, resync) whose data is the field's message as compact
// one-line JSON. Messages that mark a complete revision (event,
// snapshot_complete, progress) carry it as the SSE id, so a browser's
// EventSource resumes with Last-Event-ID at a consistent point; snapshot
// parts carry none, so a reconnect in the middle of a snapshot starts again
// from the last complete revision.
#ifndef TALLY_SERVICES_GATEWAY_SSE_STREAM_H_
#define TALLY_SERVICES_GATEWAY_SSE_STREAM_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tally/v1/feed.pb.h"

namespace tally::gateway {

// Milliseconds a browser waits before reconnecting; sent first.
inline constexpr int kSseRetryMs = 2000;

// "retry: 2000\n\n"
std::string SseRetryFrame();

// A comment line ": <text>\n\n" (keepalives, diagnostics); ignored by
// EventSource. Line breaks in `text` are replaced by spaces.
std::string SseCommentFrame(absl::string_view text);

// The SSE message of one WatchResponse. InvalidArgument when the oneof is
// unset (nothing to name the message by).
absl::StatusOr<std::string> SseFrame(const v1::WatchResponse& response);

}  // namespace tally::gateway

#endif  // TALLY_SERVICES_GATEWAY_SSE_STREAM_H_
