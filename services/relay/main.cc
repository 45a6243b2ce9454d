// tally-relay: the stateless fan-out tier of the live feed. Keeps one
// Feed.Watch on its upstream (the aggregator or another relay) and serves
// the same Feed API to many watchers. The run loop is services/server/run.h;
// this file maps the relay's flags.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "services/relay/server.h"
#include "services/rpc/replicas.h"
#include "services/security/tls_flags.h"
#include "services/server/run.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7600",
          "address to serve on (host:port; port 0 picks a free one)");
ABSL_FLAG(std::string, upstream, "",
          "aggregator or relay to follow, host:port (required); or the "
          "replicas of a replicated aggregator, separated by commas");
ABSL_FLAG(uint32_t, watch_queue_limit, 1024,
          "messages queued per watcher before it is resynchronised");
ABSL_FLAG(uint32_t, progress_interval_ms, 1000,
          "default interval of Watch progress notifications");
ABSL_FLAG(uint64_t, retained_events, 10000,
          "recent events kept in memory for Watch resumption");
ABSL_FLAG(uint32_t, reconnect_max_backoff_ms, 5000,
          "longest wait between attempts to reach the upstream");

namespace {

using tally::relay::RelayConfig;
using tally::relay::RelayServer;

// `config` with the credentials the TLS flags ask for.
absl::StatusOr<RelayConfig> Secured(RelayConfig config) {
  auto server_credentials = tally::security::MakeServerCredentials(
      tally::security::ServerTlsFromFlags());
  if (!server_credentials.ok()) return server_credentials.status();
  config.credentials = *server_credentials;
  // The relay only reads the feed: no client certificate upstream.
  auto channel_credentials = tally::security::MakeChannelCredentials(
      tally::security::ClientTlsFromFlags());
  if (!channel_credentials.ok()) return channel_credentials.status();
  config.upstream_credentials = *channel_credentials;
  return config;
}

absl::StatusOr<RelayConfig> ConfigFromFlags() {
  RelayConfig config;
  config.listen = absl::GetFlag(FLAGS_listen);
  config.upstream = absl::GetFlag(FLAGS_upstream);
  if (!config.upstream.empty()) {
    if (absl::StatusOr<std::vector<std::string>> list =
            tally::rpc::ParseAddressList(config.upstream, "--upstream");
        !list.ok()) {
      return list.status();
    }
  }
  config.watch_queue_limit = absl::GetFlag(FLAGS_watch_queue_limit);
  config.progress_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_progress_interval_ms));
  config.retained_events = absl::GetFlag(FLAGS_retained_events);
  config.reconnect_max_backoff =
      absl::Milliseconds(absl::GetFlag(FLAGS_reconnect_max_backoff_ms));
  return Secured(std::move(config));
}

}  // namespace

int main(int argc, char** argv) {
  return tally::server::Run<RelayConfig, RelayServer>(
      argc, argv,
      {.name = "tally-relay",
       .usage =
           "tally-relay --upstream HOST:PORT[,...] (--tls_cert PEM --tls_key "
           "PEM --tls_ca PEM | --insecure) [--listen HOST:PORT]",
       .config_from_flags = ConfigFromFlags,
       .serving_fields =
           [](const RelayServer& server,
              const RelayConfig& config) -> std::vector<tally::obs::LogField> {
         return {{"port", server.port()}, {"upstream", config.upstream}};
       },
       .stopped_fields =
           [](const RelayServer& server) -> std::vector<tally::obs::LogField> {
         return {{"revision", server.revision()}};
       }});
}
