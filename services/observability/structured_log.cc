#include "services/observability/structured_log.h"

#include <cstdio>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "services/observability/json_text.h"

namespace tally::obs {
namespace {

struct LogConfig {
  absl::Mutex mu;
  std::string service ABSL_GUARDED_BY(mu) = "tally";
  LogFormat format ABSL_GUARDED_BY(mu) = LogFormat::kText;
};

LogConfig& Config() {
  static LogConfig* config = new LogConfig();  // never destroyed: used at exit
  return *config;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// logfmt: bare when the value has no space, quote, '=' or control
// character; otherwise quoted with \" \\ \n \t escaped.
void AppendTextValue(std::string& out, absl::string_view value) {
  bool bare = !value.empty();
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' ||
        static_cast<unsigned char>(c) < 0x20) {
      bare = false;
      break;
    }
  }
  if (bare) {
    out.append(value.data(), value.size());
    return;
  }
  out += '"';
  for (char c : value) {
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
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\x%02x", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

}  // namespace

absl::Status ConfigureLogging(absl::string_view service,
                              absl::string_view format) {
  LogFormat parsed;
  if (format == "text") {
    parsed = LogFormat::kText;
  } else if (format == "json") {
    parsed = LogFormat::kJson;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("log format \"", format, "\" is not one of: text, json"));
  }
  LogConfig& config = Config();
  absl::MutexLock lock(&config.mu);
  config.service = std::string(service);
  config.format = parsed;
  return absl::OkStatus();
}

std::string FormatLogLine(LogFormat format, absl::Time time, LogLevel level,
                          absl::string_view service, absl::string_view message,
                          absl::Span<const LogField> fields) {
  const std::string ts =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
  std::string out;
  if (format == LogFormat::kJson) {
    out = "{\"ts\":";
    AppendJsonQuoted(out, ts);
    out += ",\"level\":";
    AppendJsonQuoted(out, LevelName(level));
    out += ",\"service\":";
    AppendJsonQuoted(out, service);
    out += ",\"msg\":";
    AppendJsonQuoted(out, message);
    for (const LogField& field : fields) {
      out += ',';
      AppendJsonQuoted(out, field.key);
      out += ':';
      if (field.raw) {
        out += field.value;
      } else {
        AppendJsonQuoted(out, field.value);
      }
    }
    out += '}';
    return out;
  }
  absl::StrAppend(&out, "ts=", ts, " level=", LevelName(level), " service=");
  AppendTextValue(out, service);
  out += " msg=";
  AppendTextValue(out, message);
  for (const LogField& field : fields) {
    absl::StrAppend(&out, " ", field.key, "=");
    AppendTextValue(out, field.value);
  }
  return out;
}

void Log(LogLevel level, absl::string_view message,
         absl::Span<const LogField> fields) {
  LogConfig& config = Config();
  absl::MutexLock lock(&config.mu);
  std::string line = FormatLogLine(config.format, absl::Now(), level,
                                   config.service, message, fields);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace tally::obs
