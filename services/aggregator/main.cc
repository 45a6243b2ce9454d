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
#include "services/etcd/client.h"
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
ABSL_FLAG(uint64_t, retained_results, 1000,
          "revisions whose results GetResults (and the gateway's "
          "/v1/results?revision=R) still serves, kept in memory; none from "
          "before the start");
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
ABSL_FLAG(std::string, etcd_endpoints, "",
          "replicate on this etcd cluster (HOST:PORT,HOST:PORT,...); empty: "
          "a single aggregator");
ABSL_FLAG(std::string, replica_id, "",
          "this replica's stable name (required with --etcd_endpoints)");
ABSL_FLAG(std::string, advertise, "",
          "HOST:PORT collectors and the other replicas reach this replica at "
          "(required with --etcd_endpoints)");
ABSL_FLAG(
    std::string, etcd_prefix, "/tally/",
    "etcd key prefix; the cluster's keys live under PREFIX<election id>/");
ABSL_FLAG(int64_t, etcd_lease_ttl_seconds, 2,
          "leader lease: a dead leader is replaced after about this long");
ABSL_FLAG(uint32_t, max_round_bytes, 256 << 10,
          "largest commit-log round written to etcd (etcd refuses requests "
          "over 1.5 MiB)");
ABSL_FLAG(uint32_t, replica_timeout_ms, 30000,
          "a replica not heard of for this long no longer holds back log "
          "truncation (it copies a peer's store when it returns)");
ABSL_FLAG(uint32_t, log_maintenance_interval_ms, 5000,
          "how often the leader truncates the commit log and compacts etcd");
ABSL_FLAG(std::string, etcd_tls_ca, "",
          "PEM CA that verifies the etcd members (TLS to etcd); empty: plain "
          "text to etcd");
ABSL_FLAG(std::string, etcd_tls_cert, "",
          "PEM client certificate for etcd (with --etcd_tls_ca)");
ABSL_FLAG(std::string, etcd_tls_key, "",
          "PEM client key for etcd (with --etcd_tls_ca)");
ABSL_FLAG(std::string, peer_tls_ca, "",
          "PEM CA that verifies the other replicas when copying a store "
          "(default: --tls_client_ca); this replica presents --tls_cert");
ABSL_FLAG(bool, forensics, true,
          "keep the election forensics (GetForensics, flags in the feed); "
          "false: none are computed, and a start does not scan the stored "
          "protocols for them");
ABSL_FLAG(std::string, log_signing_key, "",
          "Ed25519 key that signs the transparency log's tree heads (PKCS#8 "
          "PEM or a signed-note signer key); empty: a single aggregator "
          "generates one in DATA_DIR/log_signing_key.pem on first start, "
          "replicas share the cluster's (kept in etcd)");
ABSL_FLAG(std::string, log_witness_keys, "",
          "file of witness verifier keys (one C2SP note key a line, # "
          "comments) whose cosignatures the log accepts");

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

// --etcd_endpoints and what goes with it.
absl::StatusOr<AggregatorConfig> Replicated(AggregatorConfig config) {
  const std::string endpoints = absl::GetFlag(FLAGS_etcd_endpoints);
  tally::aggregator::ReplicationConfig& replication = config.replication;
  if (endpoints.empty()) {
    if (!absl::GetFlag(FLAGS_replica_id).empty() ||
        !absl::GetFlag(FLAGS_advertise).empty()) {
      return absl::InvalidArgumentError(
          "--replica_id and --advertise need --etcd_endpoints");
    }
    return config;
  }
  absl::StatusOr<std::vector<std::string>> parsed =
      tally::etcd::ParseEndpoints(endpoints);
  if (!parsed.ok()) return parsed.status();
  replication.etcd_endpoints = *parsed;
  replication.replica_id = absl::GetFlag(FLAGS_replica_id);
  replication.advertise = absl::GetFlag(FLAGS_advertise);
  replication.etcd_prefix = absl::GetFlag(FLAGS_etcd_prefix);
  replication.lease_ttl_seconds = absl::GetFlag(FLAGS_etcd_lease_ttl_seconds);
  replication.max_round_bytes = absl::GetFlag(FLAGS_max_round_bytes);
  replication.replica_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_replica_timeout_ms));
  config.log_maintenance_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_log_maintenance_interval_ms));
  if (replication.replica_id.empty() || replication.advertise.empty()) {
    return absl::InvalidArgumentError(
        "--etcd_endpoints needs --replica_id and --advertise HOST:PORT");
  }
  if (replication.lease_ttl_seconds < 1) {
    return absl::InvalidArgumentError(
        "--etcd_lease_ttl_seconds must be at least 1");
  }
  if (replication.max_round_bytes < (16 << 10) ||
      replication.max_round_bytes > (1 << 20)) {
    return absl::InvalidArgumentError(
        "--max_round_bytes must be between 16384 and 1048576 (etcd refuses "
        "requests over 1.5 MiB)");
  }
  if (!absl::GetFlag(FLAGS_etcd_tls_ca).empty()) {
    tally::security::ClientTlsOptions etcd_tls;
    etcd_tls.ca_file = absl::GetFlag(FLAGS_etcd_tls_ca);
    etcd_tls.cert_file = absl::GetFlag(FLAGS_etcd_tls_cert);
    etcd_tls.key_file = absl::GetFlag(FLAGS_etcd_tls_key);
    tally::security::TlsFlagNames names;
    names.ca = "--etcd_tls_ca";
    names.cert = "--etcd_tls_cert";
    names.key = "--etcd_tls_key";
    auto credentials = tally::security::MakeChannelCredentials(etcd_tls, names);
    if (!credentials.ok()) return credentials.status();
    replication.etcd_credentials = *credentials;
  } else if (!absl::GetFlag(FLAGS_etcd_tls_cert).empty() ||
             !absl::GetFlag(FLAGS_etcd_tls_key).empty()) {
    return absl::InvalidArgumentError(
        "--etcd_tls_cert and --etcd_tls_key need --etcd_tls_ca");
  }
  const tally::security::ServerTlsOptions own =
      tally::security::ServerTlsFromFlags();
  if (!own.insecure) {
    // Copying a peer's store: verify the peer, present this replica's own
    // certificate.
    tally::security::ClientTlsOptions peer_tls;
    peer_tls.ca_file = absl::GetFlag(FLAGS_peer_tls_ca).empty()
                           ? absl::GetFlag(FLAGS_tls_client_ca)
                           : absl::GetFlag(FLAGS_peer_tls_ca);
    peer_tls.cert_file = own.cert_file;
    peer_tls.key_file = own.key_file;
    tally::security::TlsFlagNames names;
    names.ca = "--peer_tls_ca";
    auto credentials = tally::security::MakeChannelCredentials(peer_tls, names);
    if (!credentials.ok()) return credentials.status();
    replication.peer_credentials = *credentials;
  }
  return config;
}

absl::StatusOr<AggregatorConfig> ConfigFromFlags() {
  AggregatorConfig config;
  config.listen = absl::GetFlag(FLAGS_listen);
  config.data_dir = absl::GetFlag(FLAGS_data_dir);
  config.definition_path = absl::GetFlag(FLAGS_definition);
  config.retained_events = absl::GetFlag(FLAGS_retained_events);
  config.retained_results = absl::GetFlag(FLAGS_retained_results);
  config.max_batch_entries = absl::GetFlag(FLAGS_max_batch_entries);
  config.max_inflight_batches = absl::GetFlag(FLAGS_max_inflight_batches);
  config.max_inflight_protocols = absl::GetFlag(FLAGS_max_inflight_protocols);
  config.watch_queue_limit = absl::GetFlag(FLAGS_watch_queue_limit);
  config.progress_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_progress_interval_ms));
  config.log_signing_key_path = absl::GetFlag(FLAGS_log_signing_key);
  config.forensics = absl::GetFlag(FLAGS_forensics);
  config.log_witness_keys_path = absl::GetFlag(FLAGS_log_witness_keys);
  absl::StatusOr<AggregatorConfig> replicated = Replicated(std::move(config));
  if (!replicated.ok()) return replicated.status();
  return Secured(*std::move(replicated));
}

}  // namespace

int main(int argc, char** argv) {
  return tally::server::Run<AggregatorConfig, AggregatorServer>(
      argc, argv,
      {.name = "tally-aggregator",
       .usage = "tally-aggregator --data_dir DIR (--tls_cert PEM --tls_key "
                "PEM --tls_client_ca PEM --collector_identities FILE | "
                "--insecure) [--listen HOST:PORT] [--definition FILE]\n"
                "Replicated: --etcd_endpoints H:P,H:P,H:P --replica_id ID "
                "--advertise HOST:PORT (one replica of several; see "
                "docs/ARCHITECTURE.md, \"Replication\").\n"
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
