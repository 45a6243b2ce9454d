#include "services/aggregator/server.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "services/aggregator/aggregator_service.h"
#include "services/aggregator/aggregator_state.h"
#include "services/aggregator/checkpoint_service.h"
#include "services/aggregator/committer.h"
#include "services/aggregator/latest_loader.h"
#include "services/aggregator/log_service.h"
#include "services/aggregator/replica_node.h"
#include "services/aggregator/storage_recovery.h"
#include "services/domain/definition_digest.h"
#include "services/domain/definition_generator.h"
#include "services/domain/election_loader.h"
#include "services/feed/watch_hub.h"
#include "services/observability/metrics.h"
#include "services/observability/server_telemetry.h"
#include "services/observability/structured_log.h"
#include "services/rpc/server_builder.h"
#include "services/transparency/ed25519.h"
#include "storage/aggregator_store.h"

namespace tally::aggregator {
namespace {

// Watch replay reads the stored event log.
class StoreEventSource : public feed::EventSource {
 public:
  explicit StoreEventSource(storage::AggregatorStore* store) : store_(store) {}
  uint64_t oldest_revision() const override {
    return store_->oldest_event_revision();
  }
  bool Read(uint64_t from, uint64_t to,
            const std::function<bool(const v1::Event&)>& fn) override {
    return store_
        ->ReadEvents(from, to, [&](v1::Event event) { return fn(event); })
        .ok();
  }

 private:
  storage::AggregatorStore* const store_;
};

struct ChosenDefinition {
  v1::ElectionDefinition definition;
  bool stored = false;  // read from the store (else still to be saved)
};

// Which definition to run: the stored one wins; a given file must match it.
absl::StatusOr<ChosenDefinition> ChooseDefinition(
    const AggregatorConfig& config, storage::AggregatorStore& store) {
  absl::StatusOr<std::optional<v1::ElectionDefinition>> stored =
      store.LoadDefinition();
  if (!stored.ok()) return stored.status();
  std::optional<v1::ElectionDefinition> given;
  if (!config.definition_path.empty()) {
    absl::StatusOr<v1::ElectionDefinition> loaded =
        LoadDefinitionFile(config.definition_path);
    if (!loaded.ok()) return loaded.status();
    given = *std::move(loaded);
  }
  if (stored->has_value()) {
    if (given.has_value() && DefinitionDigest(*given).value_or("a") !=
                                 DefinitionDigest(**stored).value_or("b")) {
      return absl::FailedPreconditionError(absl::StrCat(
          config.definition_path, " differs from the definition stored in ",
          config.data_dir, " (election \"", (*stored)->id(),
          "\"); use a new data directory for a different election"));
    }
    return ChosenDefinition{*std::move(*stored), true};
  }
  if (given.has_value()) return ChosenDefinition{*std::move(given), false};
  absl::StatusOr<v1::ElectionDefinition> embedded = EmbeddedDefaultDefinition();
  if (!embedded.ok()) return embedded.status();
  return ChosenDefinition{*std::move(embedded), false};
}

// The aggregator's scrape-time series: the feed's revision, watchers,
// open Ingest streams and the count against the definition.
void AddAggregatorGauges(obs::MetricsRegistry& metrics, AggregatorState* state,
                         feed::WatchHub* hub, AggregatorService* service) {
  metrics.AddGaugeCallback(
      "tally_revision", "Latest committed revision published to the feed.",
      [hub] { return static_cast<double>(hub->published_revision()); });
  metrics.AddGaugeCallback(
      "tally_watchers", "Open Watch streams (relays, gateways, clients).",
      [hub] { return static_cast<double>(hub->watcher_count()); });
  metrics.AddCounterCallback(
      "tally_watch_resyncs_total",
      "Watchers that fell behind their queue limit and were resynchronised.",
      [hub] { return static_cast<double>(hub->resync_count()); });
  metrics.AddGaugeCallback(
      "tally_ingest_streams", "Open Ingest streams (one per collector).",
      [service] { return static_cast<double>(service->open_streams()); });
  auto progress = [state](auto field) {
    return [state, field] {
      absl::ReaderMutexLock lock(&state->mu);
      return static_cast<double>(field(state->Progress()));
    };
  };
  metrics.AddGaugeCallback(
      "tally_stations_reported", "Stations with at least one counted protocol.",
      progress([](const v1::Progress& p) { return p.stations_reported(); }));
  metrics.AddGaugeCallback(
      "tally_stations_expected", "Stations of the election definition.",
      progress([](const v1::Progress& p) { return p.stations_expected(); }));
  metrics.AddGaugeCallback(
      "tally_protocols_counted",
      "Protocols counted (latest versions) over all contests.",
      progress([](const v1::Progress& p) { return p.protocols_counted(); }));
}

// The key file a single aggregator keeps when --log_signing_key is not
// given.
constexpr char kGeneratedKeyFile[] = "log_signing_key.pem";

// The transparency log's key (see AggregatorConfig::log_signing_key_path),
// checked against the key the store's heads are signed with.
absl::StatusOr<transparency::Ed25519PrivateKey> ChooseLogKey(
    const AggregatorConfig& config, storage::AggregatorStore& store,
    const std::optional<PreparedReplica>& prepared,
    const std::optional<transparency::Ed25519PrivateKey>& given) {
  std::optional<transparency::Ed25519PrivateKey> key;
  std::string source;
  bool created = false;
  if (prepared.has_value()) {
    key = *prepared->log_key;
    source = prepared->log_key_source;
  } else if (given.has_value()) {
    key = *given;
    source = config.log_signing_key_path;
  } else {
    source = absl::StrCat(config.data_dir, "/", kGeneratedKeyFile);
    absl::StatusOr<transparency::Ed25519PrivateKey> made =
        transparency::LoadOrCreatePrivateKeyFile(source, &created);
    if (!made.ok()) return made.status();
    key = *std::move(made);
  }
  absl::StatusOr<std::optional<std::string>> stored = store.LoadLogPublicKey();
  if (!stored.ok()) return stored.status();
  if (stored->has_value() && **stored != key->public_key().raw()) {
    absl::StatusOr<transparency::Ed25519PublicKey> theirs =
        transparency::Ed25519PublicKey::FromRaw(**stored);
    return absl::FailedPreconditionError(absl::StrCat(
        "the tree heads in ", config.data_dir,
        " are signed with the key of fingerprint ",
        theirs.ok() ? theirs->Fingerprint() : std::string("(unreadable)"),
        ", not with the key from ", source, " (fingerprint ",
        key->public_key().Fingerprint(),
        "); start with the store's key (--log_signing_key)"));
  }
  if (!stored->has_value()) {
    if (absl::Status saved = store.SaveLogPublicKey(key->public_key().raw());
        !saved.ok()) {
      return saved;
    }
  }
  obs::LogInfo(
      created ? "generated the transparency log's signing key"
              : "transparency log signing key",
      {{"fingerprint", key->public_key().Fingerprint()}, {"source", source}});
  return *std::move(key);
}

}  // namespace

struct AggregatorServer::Parts {
  // Declared first so that it is destroyed last: scrapes read every part.
  obs::ServerTelemetry telemetry{"tally-aggregator"};
  std::unique_ptr<storage::AggregatorStore> store;
  std::unique_ptr<AggregatorState> state;
  std::unique_ptr<StoreEventSource> events;
  std::unique_ptr<feed::WatchHub> hub;
  std::unique_ptr<StorageRecovery> recovery;
  std::unique_ptr<Committer> committer;
  // Replicas only (--etcd_endpoints).
  std::unique_ptr<etcd::Client> etcd;
  std::unique_ptr<ReplicaNode> replica;
  std::unique_ptr<CheckpointService> checkpoints;
  std::unique_ptr<AggregatorService> service;
  std::unique_ptr<LogService> log_service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::string address;  // HOST:PORT served
  bool stopped = false;
};

absl::StatusOr<std::unique_ptr<AggregatorServer>> AggregatorServer::Start(
    const AggregatorConfig& config) {
  if (config.data_dir.empty()) {
    return absl::InvalidArgumentError("a data directory is required");
  }
  auto parts = std::make_unique<Parts>();
  const bool replicated = !config.replication.etcd_endpoints.empty();
  std::optional<PreparedReplica> prepared;
  std::optional<transparency::Ed25519PrivateKey> given_key;
  if (!config.log_signing_key_path.empty()) {
    absl::StatusOr<transparency::Ed25519PrivateKey> read =
        transparency::ReadPrivateKeyFile(config.log_signing_key_path);
    if (!read.ok()) return read.status();
    given_key = *std::move(read);
  }
  if (replicated) {
    // Before the store opens: the cluster binding, and a copy of a peer's
    // store when this one cannot resume from the commit log.
    absl::StatusOr<v1::ElectionDefinition> given =
        config.definition_path.empty()
            ? EmbeddedDefaultDefinition()
            : LoadDefinitionFile(config.definition_path);
    if (!given.ok()) return given.status();
    absl::StatusOr<PreparedReplica> ready =
        PrepareReplica(config.replication, config.data_dir, *given, given_key);
    if (!ready.ok()) return ready.status();
    prepared = *std::move(ready);
  }
  absl::StatusOr<std::unique_ptr<storage::AggregatorStore>> store =
      storage::AggregatorStore::Open(config.data_dir);
  if (!store.ok()) return store.status();
  parts->store = *std::move(store);
  {
    absl::StatusOr<std::optional<std::string>> cluster =
        parts->store->LoadClusterId();
    if (!cluster.ok()) return cluster.status();
    if (replicated) {
      if (absl::Status bound =
              parts->store->SaveClusterId(prepared->cluster_id);
          !bound.ok()) {
        return bound;
      }
    } else if (cluster->has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the store in ", config.data_dir, " is a replica of cluster ",
          **cluster,
          " (its revisions follow that cluster's commit log); start it with "
          "--etcd_endpoints, or use another data directory for a single "
          "aggregator"));
    }
  }
  // The counted versions are read while the definition is loaded and
  // indexed (both take seconds for a national election): start-up costs
  // about the longer of the two, not their sum.
  LatestLoader latest(parts->store.get());

  absl::StatusOr<ChosenDefinition> chosen =
      ChooseDefinition(config, *parts->store);
  if (!chosen.ok()) return chosen.status();
  if (!chosen->stored) {
    if (absl::Status saved = parts->store->SaveDefinition(chosen->definition);
        !saved.ok()) {
      return saved;
    }
  }
  // The digest SaveDefinition stored (and LoadDefinition checked): the
  // definition is hashed once per start, not again for GetElection.
  absl::StatusOr<std::optional<std::string>> digest =
      parts->store->LoadDefinitionDigest();
  if (!digest.ok()) return digest.status();
  if (!digest->has_value()) {
    return absl::DataLossError("the stored definition has no digest");
  }
  absl::StatusOr<std::unique_ptr<ElectionIndex>> index =
      ElectionIndex::Build(std::move(chosen->definition));
  if (!index.ok()) return index.status();
  // A single node counts its own restarts; replicas get the epoch from
  // etcd (the leader key's create revision), per round.
  absl::StatusOr<uint64_t> epoch =
      replicated ? absl::StatusOr<uint64_t>(0) : parts->store->BumpEpoch();
  if (!epoch.ok()) return epoch.status();

  absl::StatusOr<transparency::Ed25519PrivateKey> log_key =
      ChooseLogKey(config, *parts->store, prepared, given_key);
  if (!log_key.ok()) return log_key.status();
  if ((*digest)->size() != 64 ||
      !std::all_of((*digest)->begin(), (*digest)->end(),
                   absl::ascii_isxdigit)) {
    return absl::DataLossError(absl::StrCat(
        "the stored definition digest is not 64 hex digits: ", **digest));
  }
  const std::string definition_digest_bytes = absl::HexStringToBytes(**digest);
  absl::StatusOr<std::unique_ptr<AggregatorState>> state =
      AggregatorState::Recover(
          *std::move(index), *parts->store, latest,
          LogSigning{*std::move(log_key), definition_digest_bytes},
          config.forensics);
  if (!state.ok()) return state.status();
  parts->state = *std::move(state);
  {
    absl::MutexLock lock(&parts->state->mu);
    parts->state->results_history().set_retained(config.retained_results);
  }

  parts->events = std::make_unique<StoreEventSource>(parts->store.get());
  feed::WatchHubOptions hub_options;
  hub_options.queue_limit = config.watch_queue_limit;
  hub_options.default_progress_interval = config.progress_interval;
  hub_options.ahead_is_unavailable = replicated;
  AggregatorState* state_ptr = parts->state.get();
  parts->hub = std::make_unique<feed::WatchHub>(
      parts->events.get(), [state_ptr] { return state_ptr->Snapshot(); },
      parts->store->revision(), hub_options);

  StorageRecoveryOptions recovery_options;
  recovery_options.metrics = &parts->telemetry.metrics();
  parts->recovery = std::make_unique<StorageRecovery>(
      parts->state.get(), parts->store.get(), recovery_options);
  CommitterOptions committer_options;
  committer_options.retained_events = config.retained_events;
  committer_options.max_protocols_per_commit = config.max_protocols_per_commit;
  committer_options.metrics = &parts->telemetry.metrics();
  committer_options.own_queue = !replicated;
  parts->committer = std::make_unique<Committer>(
      parts->state.get(), parts->store.get(), parts->hub.get(),
      parts->recovery.get(), *epoch, committer_options);
  IngestSink* sink = parts->committer.get();
  if (replicated) {
    parts->etcd = std::move(prepared->client);
    ReplicaOptions replica_options;
    replica_options.replica_id = config.replication.replica_id;
    replica_options.advertise = config.replication.advertise;
    replica_options.lease_ttl_seconds = config.replication.lease_ttl_seconds;
    replica_options.max_round_bytes = config.replication.max_round_bytes;
    replica_options.maintenance_interval = config.log_maintenance_interval;
    replica_options.maintenance.replica_timeout =
        config.replication.replica_timeout;
    replica_options.metrics = &parts->telemetry.metrics();
    parts->replica = std::make_unique<ReplicaNode>(
        parts->etcd.get(), prepared->keys, replica_options, parts->state.get(),
        parts->store.get(), parts->committer.get(), parts->recovery.get());
    sink = parts->replica.get();
    std::shared_ptr<const security::CollectorIdentities> identities =
        config.collector_identities;
    parts->checkpoints = std::make_unique<CheckpointService>(
        parts->store.get(), config.data_dir,
        [identities](grpc::CallbackServerContext* context) -> absl::Status {
          if (identities == nullptr) return absl::OkStatus();  // plain text
          absl::StatusOr<security::CollectorIdentity> collector =
              identities->Authorize(context->auth_context().get());
          if (absl::IsUnauthenticated(collector.status())) {
            return collector.status();
          }
          if (collector.ok()) {
            return absl::PermissionDeniedError(
                "collector certificates may not copy the store");
          }
          return absl::OkStatus();  // a verified replica certificate
        });
  }

  ServiceOptions service_options;
  service_options.max_batch_entries = config.max_batch_entries;
  service_options.max_inflight_batches = config.max_inflight_batches;
  service_options.max_inflight_protocols = config.max_inflight_protocols;
  service_options.epoch = *epoch;
  service_options.definition_digest = **digest;
  service_options.collector_identities = config.collector_identities;
  service_options.metrics = &parts->telemetry.metrics();
  if (ReplicaNode* replica = parts->replica.get()) {
    service_options.ingest_gate = [replica](std::string* leader) {
      return replica->CheckLeader(leader);
    };
    service_options.current_epoch = [replica] {
      return replica->Status().epoch();
    };
    service_options.replica_status = [replica] { return replica->Status(); };
  }
  parts->service = std::make_unique<AggregatorService>(
      parts->state.get(), parts->store.get(), sink, service_options);
  LogServiceOptions log_options;
  if (!config.log_witness_keys_path.empty()) {
    absl::StatusOr<std::vector<transparency::NoteVerifierKey>> witnesses =
        LoadWitnessKeys(config.log_witness_keys_path);
    if (!witnesses.ok()) return witnesses.status();
    log_options.witnesses = *std::move(witnesses);
  }
  parts->log_service = std::make_unique<LogService>(
      parts->state.get(), parts->store.get(), std::move(log_options));
  parts->recovery->Start();
  parts->committer->Start();

  std::vector<grpc::Service*> services = {
      parts->service.get(), parts->hub.get(), parts->log_service.get()};
  if (parts->checkpoints != nullptr) {
    services.push_back(parts->checkpoints.get());
  }
  absl::StatusOr<rpc::StartedServer> started =
      rpc::StartServer({.listen = config.listen,
                        .credentials = config.credentials,
                        .max_message_bytes = config.max_message_bytes,
                        .services = std::move(services)});
  if (!started.ok()) {
    parts->committer->Stop();
    parts->recovery->Stop();
    parts->hub->Shutdown();
    return started.status();
  }
  parts->server = std::move(started->server);
  parts->port = started->port;
  parts->address = started->address;
  AddAggregatorGauges(parts->telemetry.metrics(), parts->state.get(),
                      parts->hub.get(), parts->service.get());
  StorageRecovery* recovery = parts->recovery.get();
  ReplicaNode* replica = parts->replica.get();
  if (absl::Status admin = parts->telemetry.StartAdmin(
          config.admin_listen, nullptr,
          [recovery, replica] {
            std::string why(recovery->status().message());
            if (why.empty() && replica != nullptr) {
              why = std::string(replica->Health().message());
            }
            return why;
          });
      !admin.ok()) {
    parts->server->Shutdown();
    parts->committer->Stop();
    parts->recovery->Stop();
    parts->hub->Shutdown();
    return admin;
  }
  if (replica != nullptr) {
    AggregatorService* service = parts->service.get();
    replica->SetStreamHooks([service] { return service->open_streams(); },
                            [service](const absl::Status& status) {
                              service->EndIngestStreamsWith(status);
                            });
    replica->Start();
  }
  parts->telemetry.set_serving(true);
  return std::unique_ptr<AggregatorServer>(
      new AggregatorServer(std::move(parts)));
}

AggregatorServer::AggregatorServer(std::unique_ptr<Parts> parts)
    : parts_(std::move(parts)) {}

AggregatorServer::~AggregatorServer() { Shutdown(absl::Seconds(5)); }

int AggregatorServer::port() const { return parts_->port; }

std::string AggregatorServer::admin_address() const {
  return parts_->telemetry.admin_address();
}

uint64_t AggregatorServer::revision() const {
  absl::ReaderMutexLock lock(&parts_->state->mu);
  return parts_->state->revision();
}

std::string AggregatorServer::Describe() const {
  const v1::ElectionDefinition& definition =
      parts_->state->index().definition();
  return absl::StrCat("serving on ", parts_->address, " at revision ",
                      revision(), ", election ", definition.id(), " (",
                      definition.stations_size(), " stations, ",
                      definition.contests_size(), " contests)",
                      parts_->replica != nullptr ? ", replicated on etcd" : "");
}

void AggregatorServer::Shutdown(absl::Duration grace) {
  if (parts_ == nullptr || parts_->stopped) return;
  parts_->stopped = true;
  parts_->telemetry.set_serving(false);
  if (auto* health = parts_->server->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  // Watch streams never end on their own: end them first so the server's
  // drain only waits for Ingest streams and unary calls.
  parts_->hub->Shutdown();
  parts_->service->EndIngestStreams();
  // A leader resigns first, so another replica takes over at once.
  if (parts_->replica != nullptr) parts_->replica->Stop();
  parts_->server->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  parts_->committer->Stop();
  parts_->recovery->Stop();
  parts_->server->Wait();
  // Scrapes read the store's and hub's counters: stop them before closing.
  parts_->telemetry.Stop();
  parts_->store.reset();  // closes RocksDB; the WAL is already synced
}

}  // namespace tally::aggregator
