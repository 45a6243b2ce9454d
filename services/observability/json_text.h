// JSON string literals for hand-written JSON (log lines, small HTTP error
// bodies), where building a protobuf message would be overkill.
#ifndef TALLY_SERVICES_OBSERVABILITY_JSON_TEXT_H_
#define TALLY_SERVICES_OBSERVABILITY_JSON_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace tally::obs {

// Appends `text` as a JSON string literal, quotes included: ", \ and
// control characters escaped, everything else (UTF-8 included) as is.
void AppendJsonQuoted(std::string& out, absl::string_view text);

inline std::string JsonQuote(absl::string_view text) {
  std::string out;
  AppendJsonQuoted(out, text);
  return out;
}

}  // namespace tally::obs

#endif  // TALLY_SERVICES_OBSERVABILITY_JSON_TEXT_H_
