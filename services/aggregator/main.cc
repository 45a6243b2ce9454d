// tally-aggregator: the source of truth. Durable ingest from collectors,
// incremental totals and seats, the live feed. The run loop is
// services/server/run.h; this file maps the aggregator's flags.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "services/aggregator/server.h"
#include "services/security/collector_identities.h"
#include "services/security/tls_flags.h"
#include "services/server/run.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7400",
          "address to serve on (host:port; port 0 picks a free one)");
ABSL_FLAG(std::string, data_dir, "", "RocksDB data directory (required)");
ABSL_FLAG(std::string, definition, "",
          "election definition JSON; default: the stored one, or the "
          "embedded reference election on a new data directory");
ABSL_FLAG(uint64_t, retained_events, 100000,
          "events kept for Watch resumption");
ABSL_FLAG(uint32_t, max_batch_entries, 4096, "largest Ingest batch accepted");
ABSL_FLAG(uint32_t, max_inflight_batches, 64,
          "Ingest batches a stream may have waiting for the committer");
ABSL_FLAG(uint32_t, max_inflight_protocols, 4096,
          "protocols (in its batches) a stream may have waiting for the "
          "committer");
ABSL_FLAG(uint32_t, watch_queue_limit, 1024,
          "messages queued per watcher before it is resynchronised");
ABSL_FLAG(uint32_t, progress_interval_ms, 1000,
          "default interval of Watch progress notifications");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA that signs collector certificates (mutual TLS on Ingest; "
          "required with TLS)");
ABSL_FLAG(std::string, collector_identities, "",
          "file binding each collector certificate identity to its region "
          "(required with TLS; format in "
          "services/security/collector_identities.h)");

namespace {

using tally::aggregator::AggregatorConfig;
using tally::aggregator::AggregatorServer;

// TLS with mutual TLS for collectors, or --insecure: nothing in between,
// so a collector's region is always either proven or openly trusted.
absl::StatusOr<AggregatorConfig> Secured(AggregatorConfig config) {
  tally::security::ServerTlsOptions tls = tally::security::ServerTlsFromFlags();
  tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  const std::string identities_path = absl::GetFlag(FLAGS_collector_identities);
  if (tls.insecure && !identities_path.empty()) {
    return absl::InvalidArgumentError(
        "--insecure conflicts with --collector_identities (identities need "
        "mutual TLS)");
  }
  auto credentials = tally::security::MakeServerCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  config.credentials = *credentials;
  if (tls.insecure) return config;
  if (tls.client_ca_file.empty() || identities_path.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs --tls_client_ca and --collector_identities too, so that "
        "each collector proves its region");
  }
  auto identities = tally::security::CollectorIdentities::Load(identities_path);
  if (!identities.ok()) return identities.status();
  config.collector_identities =
      std::make_shared<const tally::security::CollectorIdentities>(
          *std::move(identities));
  return config;
}

absl::StatusOr<AggregatorConfig> ConfigFromFlags() {
  AggregatorConfig config;
  config.listen = absl::GetFlag(FLAGS_listen);
  config.data_dir = absl::GetFlag(FLAGS_data_dir);
  config.definition_path = absl::GetFlag(FLAGS_definition);
  config.retained_events = absl::GetFlag(FLAGS_retained_events);
  config.max_batch_entries = absl::GetFlag(FLAGS_max_batch_entries);
  config.max_inflight_batches = absl::GetFlag(FLAGS_max_inflight_batches);
  config.max_inflight_protocols = absl::GetFlag(FLAGS_max_inflight_protocols);
  config.watch_queue_limit = absl::GetFlag(FLAGS_watch_queue_limit);
  config.progress_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_progress_interval_ms));
  return Secured(std::move(config));
}

}  // namespace

int main(int argc, char** argv) {
  return tally::server::Run<AggregatorConfig, AggregatorServer>(
      argc, argv,
      {.name = "tally-aggregator",
       .usage = "tally-aggregator --data_dir DIR (--tls_cert PEM --tls_key "
                "PEM --tls_client_ca PEM --collector_identities FILE | "
                "--insecure) [--listen HOST:PORT] [--definition FILE]\n"
                "With --insecure, each collector's hello is trusted (local "
                "demos only).",
       .config_from_flags = ConfigFromFlags,
       .serving_fields =
           [](const AggregatorServer& server,
              const AggregatorConfig&) -> std::vector<tally::obs::LogField> {
         return {{"port", server.port()}, {"revision", server.revision()}};
       },
       .stopped_fields = [](const AggregatorServer& server)
           -> std::vector<tally::obs::LogField> {
         return {{"revision", server.revision()}};
       }});
}
