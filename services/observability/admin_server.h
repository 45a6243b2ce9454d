// The admin endpoint every server can open with --admin_listen: plain HTTP
// for Prometheus and orchestrators, separate from the service port so that
// it can stay on a private interface.
//
//   GET /metrics   Prometheus text format 0.0.4 of the registry
//   GET /healthz   200 "ok" while the server serves, 503 otherwise
//                  (starting or draining); Kubernetes probes use it.
//                  A server that serves but is degraded (e.g. its store
//                  takes no writes, and it recovers by itself) answers
//                  200 "degraded: <why>": it stays alive and in service
//                  for what it can still do, and says what it cannot.
//
// It exposes no data beyond counters and gauges and accepts no writes.
#ifndef TALLY_SERVICES_OBSERVABILITY_ADMIN_SERVER_H_
#define TALLY_SERVICES_OBSERVABILITY_ADMIN_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "services/observability/metrics.h"

namespace httplib {
class Server;
}

namespace tally::obs {

class AdminServer {
 public:
  // `listen` is HOST:PORT (port 0 picks a free one). `registry` must
  // outlive the server. `healthy` is polled on each /healthz; null means
  // healthy whenever the endpoint answers. `degraded`, when given, is
  // polled too while healthy: a non-empty answer is the reason the server
  // is degraded.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(
      const std::string& listen, const MetricsRegistry* registry,
      std::function<bool()> healthy = nullptr,
      std::function<std::string()> degraded = nullptr);
  ~AdminServer();

  // HOST:PORT actually bound.
  const std::string& address() const { return address_; }
  // Stops answering and joins the thread; idempotent.
  void Stop();

 private:
  AdminServer() = default;

  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::string address_;
  std::atomic<bool> stopped_{false};
};

}  // namespace tally::obs

#endif  // TALLY_SERVICES_OBSERVABILITY_ADMIN_SERVER_H_
