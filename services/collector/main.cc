// tally-collector: the regional entry point. Validates station protocols,
// keeps them in a durable outbox and forwards them to the aggregator.
#include <csignal>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "services/collector/server.h"
#include "services/observability/server_flags.h"
#include "services/security/station_tokens.h"
#include "services/security/tls_credentials.h"

ABSL_FLAG(std::string, region, "", "region this collector serves (required)");
ABSL_FLAG(std::string, collector_id, "",
          "collector id known to the aggregator; default collector-<region>");
ABSL_FLAG(std::string, data_dir, "", "RocksDB data directory (required)");
ABSL_FLAG(std::string, listen, "127.0.0.1:7500",
          "address to serve on (host:port; port 0 picks a free one)");
ABSL_FLAG(std::string, aggregator, "127.0.0.1:7400",
          "aggregator address (host:port)");
ABSL_FLAG(std::string, definition, "",
          "election definition JSON; default: the embedded reference "
          "election");
ABSL_FLAG(uint32_t, forward_batch_entries, 512,
          "outbox entries per Ingest batch");
ABSL_FLAG(uint32_t, forward_inflight_batches, 4,
          "Ingest batches sent and not yet acknowledged");
ABSL_FLAG(uint32_t, shutdown_grace_ms, 5000,
          "on SIGTERM, how long in-flight calls may take to finish");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain of this server (also the client certificate "
          "towards the aggregator unless --client_cert is given)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA that verifies the aggregator; default: the system roots");
ABSL_FLAG(std::string, client_cert, "",
          "PEM client certificate presented to the aggregator (mutual TLS); "
          "default: --tls_cert");
ABSL_FLAG(std::string, client_key, "",
          "PEM private key of --client_cert; default: --tls_key");
ABSL_FLAG(std::string, station_tokens, "",
          "station client tokens, stored as SHA-256 digests (required unless "
          "--insecure; format in services/security/station_tokens.h)");
ABSL_FLAG(bool, insecure, false,
          "plain text to clients and to the aggregator; without "
          "--station_tokens, clients are not authenticated (local demos "
          "only)");

namespace {

absl::Status ConfigureSecurity(tally::collector::CollectorConfig& config) {
  const bool insecure = absl::GetFlag(FLAGS_insecure);
  tally::security::ServerTlsOptions server;
  server.cert_file = absl::GetFlag(FLAGS_tls_cert);
  server.key_file = absl::GetFlag(FLAGS_tls_key);
  server.insecure = insecure;
  auto server_credentials = tally::security::MakeServerCredentials(server);
  if (!server_credentials.ok()) return server_credentials.status();
  config.credentials = *server_credentials;

  tally::security::ClientTlsOptions client;
  client.ca_file = absl::GetFlag(FLAGS_tls_ca);
  client.cert_file = absl::GetFlag(FLAGS_client_cert);
  client.key_file = absl::GetFlag(FLAGS_client_key);
  client.insecure = insecure;
  if (!insecure && client.cert_file.empty() && client.key_file.empty()) {
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
    if (insecure) return absl::OkStatus();
    return absl::InvalidArgumentError(
        "TLS needs --station_tokens too, so that station clients "
        "authenticate (--insecure runs without, for local demos only)");
  }
  auto tokens = tally::security::StationTokens::Load(tokens_path);
  if (!tokens.ok()) return tokens.status();
  config.station_tokens =
      std::make_shared<const tally::security::StationTokens>(
          *std::move(tokens));
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tally-collector --region REGION --data_dir DIR (--tls_cert PEM "
      "--tls_key PEM --tls_ca PEM --station_tokens FILE | --insecure) "
      "[--listen HOST:PORT] [--aggregator HOST:PORT] [--definition FILE]");
  absl::ParseCommandLine(argc, argv);
  if (!tally::obs::ConfigureLoggingFromFlags("tally-collector").ok()) return 2;
  if (absl::GetFlag(FLAGS_region).empty()) {
    std::fprintf(stderr, "tally-collector: --region is required\n");
    return 2;
  }

  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  tally::collector::CollectorConfig config;
  config.region_id = absl::GetFlag(FLAGS_region);
  config.collector_id = absl::GetFlag(FLAGS_collector_id);
  config.data_dir = absl::GetFlag(FLAGS_data_dir);
  config.listen = absl::GetFlag(FLAGS_listen);
  config.aggregator = absl::GetFlag(FLAGS_aggregator);
  config.definition_path = absl::GetFlag(FLAGS_definition);
  config.forward_batch_entries = absl::GetFlag(FLAGS_forward_batch_entries);
  config.forward_inflight_batches =
      absl::GetFlag(FLAGS_forward_inflight_batches);
  config.admin_listen = absl::GetFlag(FLAGS_admin_listen);
  if (absl::Status secured = ConfigureSecurity(config); !secured.ok()) {
    tally::obs::LogError("refusing to start", {{"reason", secured.message()}});
    return 2;
  }
  auto server = tally::collector::CollectorServer::Start(config);
  if (!server.ok()) {
    tally::obs::LogError(
        "cannot start",
        {{"reason", server.status().message()},
         {"code", absl::StatusCodeToString(server.status().code())}});
    return 1;
  }
  tally::obs::LogServing((*server)->Describe(), (*server)->admin_address(),
                         {{"port", (*server)->port()},
                          {"region", config.region_id},
                          {"tls", !absl::GetFlag(FLAGS_insecure)}});

  int signal = 0;
  sigwait(&stop_signals, &signal);
  tally::obs::LogInfo("stop signal, draining", {{"signal", signal}});
  (*server)->Shutdown(
      absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  tally::obs::LogInfo("stopped");
  return 0;
}
