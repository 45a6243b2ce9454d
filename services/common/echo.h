// Bounded echoes of untrusted input. Error messages, log lines and HTTP
// errors may quote what a caller sent (an id, a field, a path), but never
// more than kMaxEchoBytes of it: a 100 KB contest id must come back as
// NOT_FOUND with a message of a few hundred bytes, not grow the status past
// gRPC's metadata limit (the client would see RESOURCE_EXHAUSTED instead)
// or flood a log. With the words around it a message stays under about 300
// bytes.
//
// Every place that echoes input uses one of these; nothing else cuts or
// quotes caller text. Pure functions; any thread.
#ifndef TALLY_SERVICES_COMMON_ECHO_H_
#define TALLY_SERVICES_COMMON_ECHO_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace tally::common {

// How much of a caller's text a message quotes.
inline constexpr size_t kMaxEchoBytes = 100;
// How much of it a field path quotes when the message quotes it again
// ("votes[choice_id=...]: choice \"...\" is not on the ballot").
inline constexpr size_t kMaxEchoInFieldBytes = 32;

// `text` as it may appear in a message: whole when it is at most
// `max_bytes`, else its first bytes (never cutting a UTF-8 character)
// followed by "... (N bytes)".
std::string Echo(absl::string_view text, size_t max_bytes = kMaxEchoBytes);

// Echo in double quotes, with quotes, backslashes and control characters
// C-escaped (other UTF-8 passes unchanged), bounded after escaping:
// "astana", "a\"b", "xxxx"... (102400 bytes).
std::string QuoteEcho(absl::string_view text);

}  // namespace tally::common

#endif  // TALLY_SERVICES_COMMON_ECHO_H_
