// tally-collector: the regional entry point. Validates station protocols,
// keeps them in a durable outbox and forwards them to the aggregator. The
// run loop is services/server/run.h; this file maps the collector's flags.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "services/collector/server.h"
#include "services/rpc/replicas.h"
#include "services/security/station_tokens.h"
#include "services/security/tls_flags.h"
#include "services/server/run.h"

ABSL_FLAG(std::string, region, "", "region this collector serves (required)");
ABSL_FLAG(std::string, collector_id, "",
          "collector id known to the aggregator; default collector-<region>");
ABSL_FLAG(std::string, data_dir, "", "RocksDB data directory (required)");
ABSL_FLAG(std::string, listen, "127.0.0.1:7500",
          "address to serve on (host:port; port 0 picks a free one)");
ABSL_FLAG(std::string, aggregator, "127.0.0.1:7400",
          "aggregator address (host:port), or the addresses of its replicas "
          "separated by commas (the collector follows the leader)");
ABSL_FLAG(std::string, definition, "",
          "election definition JSON; default: the embedded reference "
          "election");
ABSL_FLAG(uint32_t, forward_batch_entries, 512,
          "outbox entries per Ingest batch");
ABSL_FLAG(uint32_t, forward_inflight_batches, 4,
          "Ingest batches sent and not yet acknowledged");
ABSL_FLAG(std::string, client_cert, "",
          "PEM client certificate presented to the aggregator (mutual TLS); "
          "default: --tls_cert");
ABSL_FLAG(std::string, client_key, "",
          "PEM private key of --client_cert; default: --tls_key");
ABSL_FLAG(std::string, station_tokens, "",
          "station client tokens, stored as SHA-256 digests (required unless "
          "--insecure; format in services/security/station_tokens.h)");

namespace {

using tally::collector::CollectorConfig;
using tally::collector::CollectorServer;

// `config` with the credentials and tokens the TLS flags ask for.
absl::StatusOr<CollectorConfig> Secured(CollectorConfig config) {
  const tally::security::ServerTlsOptions server =
      tally::security::ServerTlsFromFlags();
  auto server_credentials = tally::security::MakeServerCredentials(server);
  if (!server_credentials.ok()) return server_credentials.status();
  config.credentials = *server_credentials;

  tally::security::ClientTlsOptions client =
      tally::security::ClientTlsFromFlags();
  client.cert_file = absl::GetFlag(FLAGS_client_cert);
  client.key_file = absl::GetFlag(FLAGS_client_key);
  if (!client.insecure && client.cert_file.empty() && client.key_file.empty()) {
    client.cert_file = server.cert_file;
    client.key_file = server.key_file;
  }
  tally::security::TlsFlagNames names;
  names.cert = "--client_cert";
  names.key = "--client_key";
  auto channel_credentials =
      tally::security::MakeChannelCredentials(client, names);
  if (!channel_credentials.ok()) return channel_credentials.status();
  config.aggregator_credentials = *channel_credentials;

  // Tokens cannot be forgotten silently: only --insecure goes without.
  const std::string tokens_path = absl::GetFlag(FLAGS_station_tokens);
  if (tokens_path.empty()) {
    if (client.insecure) return config;
    return absl::InvalidArgumentError(
        "TLS needs --station_tokens too, so that station clients "
        "authenticate (--insecure runs without, for local demos only)");
  }
  auto tokens = tally::security::StationTokens::Load(tokens_path);
  if (!tokens.ok()) return tokens.status();
  config.station_tokens =
      std::make_shared<const tally::security::StationTokens>(
          *std::move(tokens));
  return config;
}

absl::StatusOr<CollectorConfig> ConfigFromFlags() {
  CollectorConfig config;
  config.region_id = absl::GetFlag(FLAGS_region);
  if (config.region_id.empty()) {
    return absl::InvalidArgumentError("--region is required");
  }
  config.collector_id = absl::GetFlag(FLAGS_collector_id);
  config.data_dir = absl::GetFlag(FLAGS_data_dir);
  config.listen = absl::GetFlag(FLAGS_listen);
  config.aggregator = absl::GetFlag(FLAGS_aggregator);
  if (absl::StatusOr<std::vector<std::string>> list =
          tally::rpc::ParseAddressList(config.aggregator, "--aggregator");
      !list.ok()) {
    return list.status();
  }
  config.definition_path = absl::GetFlag(FLAGS_definition);
  config.forward_batch_entries = absl::GetFlag(FLAGS_forward_batch_entries);
  config.forward_inflight_batches =
      absl::GetFlag(FLAGS_forward_inflight_batches);
  return Secured(std::move(config));
}

}  // namespace

int main(int argc, char** argv) {
  return tally::server::Run<CollectorConfig, CollectorServer>(
      argc, argv,
      {.name = "tally-collector",
       .usage =
           "tally-collector --region REGION --data_dir DIR (--tls_cert "
           "PEM --tls_key PEM --tls_ca PEM --station_tokens FILE | "
           "--insecure) [--listen HOST:PORT] [--aggregator HOST:PORT[,...]] "
           "[--definition FILE]\n"
           "--tls_cert is also the client certificate towards the "
           "aggregator unless --client_cert is given. With --insecure "
           "and no --station_tokens, station clients are not "
           "authenticated (local demos only).",
       .config_from_flags = ConfigFromFlags,
       .serving_fields = [](const CollectorServer& server,
                            const CollectorConfig& config)
           -> std::vector<tally::obs::LogField> {
         return {{"port", server.port()}, {"region", config.region_id}};
       }});
}
