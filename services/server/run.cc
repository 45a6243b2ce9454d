#include "services/server/run.h"

#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "services/security/tls_flags.h"

ABSL_FLAG(std::string, admin_listen, "",
          "HOST:PORT of the admin HTTP endpoint (GET /metrics in Prometheus "
          "text format, GET /healthz); empty: none");
ABSL_FLAG(std::string, log_format, "text",
          "structured log lines on stderr: text (logfmt) or json");
ABSL_FLAG(uint32_t, shutdown_grace_ms, 5000,
          "on SIGTERM, how long calls and requests in progress may take to "
          "finish");

namespace tally::server::run_internal {
namespace {

sigset_t StopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

}  // namespace

bool Begin(const std::string& name, const std::string& usage, int argc,
           char** argv) {
  absl::SetProgramUsageMessage(usage);
  absl::ParseCommandLine(argc, argv);
  if (absl::Status logging =
          obs::ConfigureLogging(name, absl::GetFlag(FLAGS_log_format));
      !logging.ok()) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(),
                 std::string(logging.message()).c_str());
    return false;
  }
  std::signal(SIGPIPE, SIG_IGN);
  const sigset_t stop = StopSignals();
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  return true;
}

int RefuseToStart(const absl::Status& status) {
  obs::LogError("refusing to start", {{"reason", status.message()}});
  return 2;
}

int CannotStart(const absl::Status& status) {
  obs::LogError("cannot start",
                {{"reason", status.message()},
                 {"code", absl::StatusCodeToString(status.code())}});
  return 1;
}

void LogServing(absl::string_view describe, absl::string_view admin_address,
                std::vector<obs::LogField> fields) {
  fields.emplace_back("tls", !security::InsecureFromFlags());
  fields.emplace_back("version", TALLY_VERSION_STRING);
  obs::Log(obs::LogLevel::kInfo, describe, fields);
  if (!admin_address.empty()) {
    obs::LogInfo(
        absl::StrCat("admin endpoint on http://", admin_address, "/metrics"),
        {{"admin", admin_address}});
  }
}

absl::Duration AwaitStopSignal() {
  const sigset_t stop = StopSignals();
  int signal = 0;
  sigwait(&stop, &signal);
  obs::LogInfo("stop signal, draining", {{"signal", signal}});
  return absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms));
}

int Stopped(bool drained, const std::vector<obs::LogField>& fields) {
  if (!drained) {
    obs::LogWarning("requests still running after the grace period");
    // Its threads still run; destructors would race them.
    std::_Exit(0);
  }
  obs::Log(obs::LogLevel::kInfo, "stopped", fields);
  return 0;
}

}  // namespace tally::server::run_internal
