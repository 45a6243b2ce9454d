// tally-aggregator: the source of truth. Durable ingest from collectors,
// incremental totals and seats, the live feed.
#include <csignal>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "services/aggregator/server.h"
#include "services/observability/server_flags.h"
#include "services/security/collector_identities.h"
#include "services/security/tls_credentials.h"

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
ABSL_FLAG(uint32_t, shutdown_grace_ms, 5000,
          "on SIGTERM, how long in-flight calls may take to finish");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain of this server");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of this server");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA that signs collector certificates (mutual TLS on Ingest; "
          "required with TLS)");
ABSL_FLAG(std::string, collector_identities, "",
          "file binding each collector certificate identity to its region "
          "(required with TLS; format in "
          "services/security/collector_identities.h)");
ABSL_FLAG(bool, insecure, false,
          "serve plain text and trust each collector's hello (local demos "
          "only)");

namespace {

// TLS with mutual TLS for collectors, or --insecure: nothing in between,
// so a collector's region is always either proven or openly trusted.
absl::Status ConfigureSecurity(tally::aggregator::AggregatorConfig& config) {
  tally::security::ServerTlsOptions tls;
  tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  tls.key_file = absl::GetFlag(FLAGS_tls_key);
  tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  tls.insecure = absl::GetFlag(FLAGS_insecure);
  const std::string identities_path = absl::GetFlag(FLAGS_collector_identities);
  if (tls.insecure && !identities_path.empty()) {
    return absl::InvalidArgumentError(
        "--insecure conflicts with --collector_identities (identities need "
        "mutual TLS)");
  }
  auto credentials = tally::security::MakeServerCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  config.credentials = *credentials;
  if (tls.insecure) return absl::OkStatus();
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
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tally-aggregator --data_dir DIR (--tls_cert PEM --tls_key PEM "
      "--tls_client_ca PEM --collector_identities FILE | --insecure) "
      "[--listen HOST:PORT] [--definition FILE]");
  absl::ParseCommandLine(argc, argv);
  if (!tally::obs::ConfigureLoggingFromFlags("tally-aggregator").ok()) return 2;

  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  tally::aggregator::AggregatorConfig config;
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
  config.admin_listen = absl::GetFlag(FLAGS_admin_listen);
  if (absl::Status secured = ConfigureSecurity(config); !secured.ok()) {
    tally::obs::LogError("refusing to start", {{"reason", secured.message()}});
    return 2;
  }
  auto server = tally::aggregator::AggregatorServer::Start(config);
  if (!server.ok()) {
    tally::obs::LogError(
        "cannot start",
        {{"reason", server.status().message()},
         {"code", absl::StatusCodeToString(server.status().code())}});
    return 1;
  }
  tally::obs::LogServing((*server)->Describe(), (*server)->admin_address(),
                         {{"port", (*server)->port()},
                          {"revision", (*server)->revision()},
                          {"tls", !absl::GetFlag(FLAGS_insecure)}});

  int signal = 0;
  sigwait(&stop_signals, &signal);
  tally::obs::LogInfo("stop signal, draining", {{"signal", signal}});
  (*server)->Shutdown(
      absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  tally::obs::LogInfo("stopped", {{"revision", (*server)->revision()}});
  return 0;
}
