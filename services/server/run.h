// The run loop of every tally server binary. A server's main.cc keeps only
// its own flags and a ConfigFromFlags(); Run does the rest, the same way
// for all four:
//   1. parse the flags; configure the structured log (--log_format);
//   2. ignore SIGPIPE (a peer closing its connection ends one call, not the
//      process) and block SIGTERM and SIGINT before any thread starts, so
//      every thread inherits the mask and only step 6 receives them;
//   3. ConfigFromFlags(): an error is a bad invocation, logged as "refusing
//      to start" (exit 2);
//   4. Server::Start(config): an error is logged as "cannot start" (exit 1);
//   5. the serving line, "serving on HOST:PORT ..." (scripts and tests wait
//      for it), with the server's fields, tls and version, then the admin
//      endpoint's line;
//   6. wait for SIGTERM or SIGINT: "stop signal, draining";
//   7. Server::Shutdown(--shutdown_grace_ms); "stopped" (exit 0). A server
//      whose Shutdown returns false left work running past the grace
//      period: a warning, then exit 0 without running destructors that
//      would race it.
//
// The flags every server shares are defined here: --admin_listen,
// --log_format, --shutdown_grace_ms (the TLS flags are in
// services/security/tls_flags.h).
//
// Run is called once, from main, on the main thread.
#ifndef TALLY_SERVICES_SERVER_RUN_H_
#define TALLY_SERVICES_SERVER_RUN_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/observability/structured_log.h"

ABSL_DECLARE_FLAG(std::string, admin_listen);
ABSL_DECLARE_FLAG(std::string, log_format);
ABSL_DECLARE_FLAG(uint32_t, shutdown_grace_ms);

namespace tally::server {

// What one server binary gives the run loop. `Config` has a std::string
// admin_listen, which Run sets from --admin_listen. `Server` has
//   static absl::StatusOr<std::unique_ptr<Server>> Start(const Config&);
//   std::string Describe() const;        // "serving on HOST:PORT ..."
//   std::string admin_address() const;   // empty without an admin endpoint
//   void or bool Shutdown(absl::Duration grace);
template <typename Config, typename Server>
struct Program {
  // The service name of every log line: "tally-relay".
  std::string name = "";
  // The synopsis --help prints first.
  std::string usage = "";
  // The binary's flags -> its config.
  std::function<absl::StatusOr<Config>()> config_from_flags = nullptr;
  // Fields of the serving line before tls and version (may be empty).
  std::function<std::vector<obs::LogField>(const Server&, const Config&)>
      serving_fields = nullptr;
  // Fields of the "stopped" line (may be empty).
  std::function<std::vector<obs::LogField>(const Server&)> stopped_fields =
      nullptr;
};

// The steps Run is made of; see the top of this file.
namespace run_internal {

// Steps 1 and 2. False (after one line on stderr) when the log cannot be
// configured.
bool Begin(const std::string& name, const std::string& usage, int argc,
           char** argv);
// Step 3's failure: logs and returns the exit code.
int RefuseToStart(const absl::Status& status);
// Step 4's failure: logs and returns the exit code.
int CannotStart(const absl::Status& status);
// Step 5.
void LogServing(absl::string_view describe, absl::string_view admin_address,
                std::vector<obs::LogField> fields);
// Step 6; returns the grace period of step 7.
absl::Duration AwaitStopSignal();
// Step 7's end: returns the exit code, or exits at once when `drained` is
// false.
int Stopped(bool drained, const std::vector<obs::LogField>& fields);

}  // namespace run_internal

// Runs the server until a stop signal; returns main's exit code.
template <typename Config, typename Server>
int Run(int argc, char** argv, const Program<Config, Server>& program) {
  if (!run_internal::Begin(program.name, program.usage, argc, argv)) return 2;
  absl::StatusOr<Config> config = program.config_from_flags();
  if (!config.ok()) return run_internal::RefuseToStart(config.status());
  config->admin_listen = absl::GetFlag(FLAGS_admin_listen);
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(*config);
  if (!server.ok()) return run_internal::CannotStart(server.status());
  std::vector<obs::LogField> serving;
  if (program.serving_fields)
    serving = program.serving_fields(**server, *config);
  run_internal::LogServing((*server)->Describe(), (*server)->admin_address(),
                           std::move(serving));
  const absl::Duration grace = run_internal::AwaitStopSignal();
  bool drained = true;
  if constexpr (std::is_same_v<decltype((*server)->Shutdown(grace)), bool>) {
    drained = (*server)->Shutdown(grace);
  } else {
    (*server)->Shutdown(grace);
  }
  std::vector<obs::LogField> stopped;
  if (program.stopped_fields) stopped = program.stopped_fields(**server);
  return run_internal::Stopped(drained, stopped);
}

}  // namespace tally::server

#endif  // TALLY_SERVICES_SERVER_RUN_H_
