// Structured logs: one line per event on stderr, with a timestamp, level,
// service, message and typed fields, so that log collectors (Loki,
// Elasticsearch, journald) can index them without parsing prose.
//
//   text (default, logfmt):
//     ts=2026-03-19T20:01:02.345Z level=info service=tally-aggregator
//       msg="serving on 0.0.0.0:7400 at revision 12" revision=12
//   json:
//     {"ts":"2026-03-19T20:01:02.345Z","level":"info",
//      "service":"tally-aggregator","msg":"serving on ...","revision":12}
//
// Lines are written whole under a lock, so concurrent threads never
// interleave within a line.
#ifndef TALLY_SERVICES_OBSERVABILITY_STRUCTURED_LOG_H_
#define TALLY_SERVICES_OBSERVABILITY_STRUCTURED_LOG_H_

#include <cmath>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace tally::obs {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
enum class LogFormat { kText, kJson };

// One key=value of a log line. Numbers and booleans stay numbers in JSON.
struct LogField {
  LogField(absl::string_view key, absl::string_view value)
      : key(key), value(value) {}
  LogField(absl::string_view key, const char* value) : key(key), value(value) {}
  LogField(absl::string_view key, const std::string& value)
      : key(key), value(value) {}
  LogField(absl::string_view key, bool value)
      : key(key), value(value ? "true" : "false"), raw(true) {}
  template <typename T>
  requires(std::integral<T> && !std::same_as<T, bool>) ||
      std::floating_point<T> LogField(absl::string_view key, T value)
      : key(key),
  value(absl::StrCat(value)),
  raw(!std::floating_point<T> || std::isfinite(value)) {}

  std::string key;
  std::string value;
  // True for numbers and booleans: unquoted in JSON.
  bool raw = false;
};

// Sets the service name and format of every later line. `format` is
// "text" or "json"; anything else is INVALID_ARGUMENT.
absl::Status ConfigureLogging(absl::string_view service,
                              absl::string_view format);

void Log(LogLevel level, absl::string_view message,
         absl::Span<const LogField> fields);
inline void Log(LogLevel level, absl::string_view message,
                std::initializer_list<LogField> fields = {}) {
  Log(level, message, absl::MakeConstSpan(fields.begin(), fields.size()));
}

inline void LogInfo(absl::string_view message,
                    std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, message, fields);
}
inline void LogWarning(absl::string_view message,
                       std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarning, message, fields);
}
inline void LogError(absl::string_view message,
                     std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, message, fields);
}

// The line Log writes (without the newline); exposed for tests.
std::string FormatLogLine(LogFormat format, absl::Time time, LogLevel level,
                          absl::string_view service, absl::string_view message,
                          absl::Span<const LogField> fields);

}  // namespace tally::obs

#endif  // TALLY_SERVICES_OBSERVABILITY_STRUCTURED_LOG_H_
