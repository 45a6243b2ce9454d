#include "services/observability/server_flags.h"

#include <cstdio>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, admin_listen, "",
          "HOST:PORT of the admin HTTP endpoint (GET /metrics in Prometheus "
          "text format, GET /healthz); empty: none");
ABSL_FLAG(std::string, log_format, "text",
          "structured log lines on stderr: text (logfmt) or json");

namespace tally::obs {

absl::Status ConfigureLoggingFromFlags(absl::string_view service) {
  absl::Status status =
      ConfigureLogging(service, absl::GetFlag(FLAGS_log_format));
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", std::string(service).c_str(),
                 std::string(status.message()).c_str());
  }
  return status;
}

void LogServing(absl::string_view describe, absl::string_view admin_address,
                std::initializer_list<LogField> fields) {
  std::vector<LogField> all(fields);
  all.emplace_back("version", TALLY_VERSION_STRING);
  Log(LogLevel::kInfo, describe, all);
  if (!admin_address.empty()) {
    LogInfo(
        absl::StrCat("admin endpoint on http://", admin_address, "/metrics"),
        {{"admin", admin_address}});
  }
}

}  // namespace tally::obs
