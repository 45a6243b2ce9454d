// What every server exposes for operations, in one object: its metrics
// registry (with tally_build_info and the process series of its service),
// whether it is serving, and the admin endpoint (/metrics, /healthz) when
// --admin_listen asks for one.
//
// A server declares it first among its parts, so that it is destroyed last
// (scrapes read every part), and calls Stop before closing what its metric
// callbacks read.
//
// Thread-safety: metrics() is as thread-safe as MetricsRegistry;
// set_serving, serving and admin_address from any thread; StartAdmin and
// Stop from the server's own start and shutdown.
#ifndef TALLY_SERVICES_OBSERVABILITY_SERVER_TELEMETRY_H_
#define TALLY_SERVICES_OBSERVABILITY_SERVER_TELEMETRY_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/observability/admin_server.h"
#include "services/observability/metrics.h"

namespace tally::obs {

class ServerTelemetry {
 public:
  // `service` names the process series: "tally-aggregator".
  explicit ServerTelemetry(absl::string_view service);

  MetricsRegistry& metrics() { return metrics_; }

  // Opens the admin endpoint on `listen` (HOST:PORT, port 0 picks one;
  // empty: none). /healthz answers `healthy`, by default serving();
  // `degraded`, when given, names what the server cannot do while it still
  // serves (see AdminServer).
  absl::Status StartAdmin(const std::string& listen,
                          std::function<bool()> healthy = nullptr,
                          std::function<std::string()> degraded = nullptr);
  // HOST:PORT of the admin endpoint; empty without one.
  std::string admin_address() const;
  // Stops the admin endpoint; idempotent.
  void Stop();

  void set_serving(bool serving) { serving_.store(serving); }
  bool serving() const { return serving_.load(); }

 private:
  MetricsRegistry metrics_;
  std::atomic<bool> serving_{false};
  std::unique_ptr<AdminServer> admin_;
};

}  // namespace tally::obs

#endif  // TALLY_SERVICES_OBSERVABILITY_SERVER_TELEMETRY_H_
