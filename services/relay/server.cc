#include "services/relay/server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "services/observability/metrics.h"
#include "services/observability/server_telemetry.h"
#include "services/observability/structured_log.h"
#include "services/relay/feed_service.h"
#include "services/relay/relay_state.h"
#include "services/relay/upstream.h"
#include "services/rpc/server_builder.h"

namespace tally::relay {

struct RelayServer::Parts {
  // Declared first so that it is destroyed last: scrapes read every part.
  obs::ServerTelemetry telemetry{"tally-relay"};
  std::unique_ptr<RelayState> state;
  std::unique_ptr<FeedService> feed;
  std::unique_ptr<Upstream> upstream;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::string address;  // HOST:PORT served
  std::string upstream_address;
  bool stopped = false;

  // Health follows the feed: NOT_SERVING until the first upstream snapshot
  // is complete and while a replacement snapshot is pending. The upstream
  // thread may report before the server exists.
  absl::Mutex health_mu;
  bool serving ABSL_GUARDED_BY(health_mu) = false;
  bool health_closed ABSL_GUARDED_BY(health_mu) = false;

  void SetServing(bool on) {
    bool changed = false;
    {
      absl::MutexLock lock(&health_mu);
      changed = serving != on;
      serving = on;
      ApplyHealthLocked();
    }
    if (!changed) return;
    if (on) {
      obs::LogInfo("feed serving", {{"revision", state->revision()},
                                    {"upstream", upstream_address}});
    } else {
      obs::LogWarning("feed not serving until a new upstream snapshot",
                      {{"upstream", upstream_address}});
    }
  }
  bool healthy() {
    absl::MutexLock lock(&health_mu);
    return serving && !health_closed;
  }
  void ApplyHealthLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(health_mu) {
    if (server == nullptr || health_closed) return;
    if (auto* health = server->GetHealthCheckService()) {
      health->SetServingStatus(serving);
    }
  }
};

absl::StatusOr<std::unique_ptr<RelayServer>> RelayServer::Start(
    const RelayConfig& config) {
  if (config.upstream.empty()) {
    return absl::InvalidArgumentError(
        "an upstream (aggregator or relay host:port) is required");
  }
  auto parts = std::make_unique<Parts>();
  parts->upstream_address = config.upstream;
  parts->state = std::make_unique<RelayState>(config.retained_events);
  feed::WatchHubOptions hub_options;
  hub_options.queue_limit = config.watch_queue_limit;
  hub_options.default_progress_interval = config.progress_interval;
  parts->feed = std::make_unique<FeedService>(parts->state.get(), hub_options,
                                              config.ahead_wait);

  // The same server settings as the aggregator's, so that one client
  // configuration works against either.
  absl::StatusOr<rpc::StartedServer> started =
      rpc::StartServer({.listen = config.listen,
                        .credentials = config.credentials,
                        .max_message_bytes = config.max_message_bytes,
                        .services = {parts->feed.get()}});
  if (!started.ok()) return started.status();
  parts->port = started->port;
  parts->address = started->address;
  {
    absl::MutexLock lock(&parts->health_mu);
    parts->server = std::move(started->server);
    parts->ApplyHealthLocked();  // NOT_SERVING until the first snapshot
  }

  UpstreamOptions upstream_options;
  upstream_options.address = config.upstream;
  upstream_options.credentials = config.upstream_credentials;
  upstream_options.max_message_bytes = config.max_message_bytes;
  upstream_options.retained_events = config.retained_events;
  upstream_options.max_backoff =
      std::max(config.reconnect_max_backoff, upstream_options.initial_backoff);
  // The upstream sends progress at a quarter of this while idle.
  upstream_options.idle_timeout =
      std::max(absl::Seconds(10), config.progress_interval * 8);
  Parts* raw = parts.get();
  parts->upstream = std::make_unique<Upstream>(
      upstream_options, parts->state.get(), parts->feed.get(),
      [raw](bool on) { raw->SetServing(on); });
  parts->upstream->Start();

  obs::MetricsRegistry& metrics = parts->telemetry.metrics();
  metrics.AddGaugeCallback(
      "tally_revision", "Latest revision this relay holds and serves.",
      [raw] { return static_cast<double>(raw->state->revision()); });
  metrics.AddGaugeCallback(
      "tally_watchers", "Open Watch streams served by this relay.",
      [raw] { return static_cast<double>(raw->feed->watcher_count()); });
  metrics.AddCounterCallback(
      "tally_watch_resyncs_total",
      "Watchers that fell behind their queue limit and were resynchronised.",
      [raw] { return static_cast<double>(raw->feed->resync_count()); });
  metrics.AddCounterCallback(
      "tally_upstream_connections_total",
      "Watch streams opened to the upstream (1 + reconnections).",
      [raw] { return static_cast<double>(raw->upstream->connections()); });
  metrics.AddCounterCallback(
      "tally_upstream_resnapshots_total",
      "Fresh upstream snapshots taken after the first (gap too large to "
      "resume).",
      [raw] { return static_cast<double>(raw->upstream->resnapshots()); });
  metrics.AddGaugeCallback(
      "tally_feed_serving",
      "1 while the relay holds a complete snapshot and serves watchers.",
      [raw] { return raw->healthy() ? 1.0 : 0.0; });
  // Health follows the feed (see Parts::healthy), not a flag.
  if (absl::Status admin = parts->telemetry.StartAdmin(
          config.admin_listen, [raw] { return raw->healthy(); });
      !admin.ok()) {
    parts->upstream->Stop();
    parts->feed->Shutdown();
    parts->server->Shutdown();
    return admin;
  }
  return std::unique_ptr<RelayServer>(new RelayServer(std::move(parts)));
}

RelayServer::RelayServer(std::unique_ptr<Parts> parts)
    : parts_(std::move(parts)) {}

RelayServer::~RelayServer() { Shutdown(absl::Seconds(5)); }

int RelayServer::port() const { return parts_->port; }

std::string RelayServer::admin_address() const {
  return parts_->telemetry.admin_address();
}

uint64_t RelayServer::revision() const { return parts_->state->revision(); }

std::string RelayServer::Describe() const {
  return absl::StrCat("serving on ", parts_->address, " from upstream ",
                      parts_->upstream_address);
}

void RelayServer::Shutdown(absl::Duration grace) {
  if (parts_ == nullptr || parts_->stopped) return;
  parts_->stopped = true;
  {
    absl::MutexLock lock(&parts_->health_mu);
    parts_->serving = false;
    parts_->ApplyHealthLocked();
    parts_->health_closed = true;
  }
  // No more events, then end the watch streams (they never end on their
  // own), then drain what is left.
  parts_->upstream->Stop();
  parts_->feed->Shutdown();
  parts_->server->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  parts_->server->Wait();
  parts_->telemetry.Stop();
}

}  // namespace tally::relay
