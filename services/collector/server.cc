#include "services/collector/server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "services/collector/collector_service.h"
#include "services/collector/forwarder.h"
#include "services/collector/outbox_writer.h"
#include "services/domain/definition_digest.h"
#include "services/domain/definition_generator.h"
#include "services/domain/election_index.h"
#include "services/domain/election_loader.h"
#include "services/observability/metrics.h"
#include "services/observability/server_telemetry.h"
#include "services/rpc/server_builder.h"
#include "storage/collector_store.h"

namespace tally::collector {
namespace {

absl::StatusOr<v1::ElectionDefinition> LoadDefinition(
    const CollectorConfig& config) {
  if (config.definition_path.empty()) return EmbeddedDefaultDefinition();
  return LoadDefinitionFile(config.definition_path);
}

// A store holds one election's outbox: forwarding it under another
// definition would mix elections.
absl::Status BindStoreToDefinition(storage::CollectorStore& store,
                                   const v1::ElectionDefinition& definition) {
  absl::StatusOr<std::string> digest = DefinitionDigest(definition);
  if (!digest.ok()) return digest.status();
  return store.SaveDefinitionDigest(*digest);
}

// The collector's scrape-time series: the outbox and the link upstream.
void AddCollectorGauges(obs::MetricsRegistry& metrics,
                        const storage::CollectorStore* store,
                        const Forwarder* forwarder,
                        const OutboxWriter* writer) {
  metrics.AddGaugeCallback(
      "tally_outbox_write_failing",
      "1 while the outbox refuses writes (full disk, I/O error): "
      "submissions are refused until it takes writes again.",
      [writer] { return writer->write_failing() ? 1.0 : 0.0; });
  metrics.AddGaugeCallback(
      "tally_outbox_depth",
      "Protocols durable in the outbox, not yet acknowledged by the "
      "aggregator.",
      [store] { return static_cast<double>(store->depth()); });
  metrics.AddCounterCallback(
      "tally_outbox_appended_total",
      "Protocols appended to the outbox (its last sequence number).",
      [store] { return static_cast<double>(store->last_seq()); });
  metrics.AddCounterCallback(
      "tally_outbox_acknowledged_total",
      "Outbox entries the aggregator acknowledged as durable (its acked "
      "sequence number).",
      [store] { return static_cast<double>(store->acked_seq()); });
  metrics.AddGaugeCallback(
      "tally_aggregator_connected",
      "1 while the forwarding stream to the aggregator is up.",
      [forwarder] { return forwarder->connected() ? 1.0 : 0.0; });
}

}  // namespace

struct CollectorServer::Parts {
  // Declared first so that it is destroyed last: scrapes read every part.
  obs::ServerTelemetry telemetry{"tally-collector"};
  std::unique_ptr<storage::CollectorStore> store;
  std::unique_ptr<ElectionIndex> index;
  std::unique_ptr<Forwarder> forwarder;
  std::unique_ptr<OutboxWriter> writer;
  std::unique_ptr<CollectorService> service;
  std::unique_ptr<grpc::Server> server;
  CollectorConfig config;
  int port = 0;
  std::string address;  // HOST:PORT served
  bool stopped = false;
};

absl::StatusOr<std::unique_ptr<CollectorServer>> CollectorServer::Start(
    const CollectorConfig& config) {
  if (config.data_dir.empty()) {
    return absl::InvalidArgumentError("a data directory is required");
  }
  auto parts = std::make_unique<Parts>();
  parts->config = config;
  if (parts->config.collector_id.empty()) {
    parts->config.collector_id = absl::StrCat("collector-", config.region_id);
  }
  absl::StatusOr<v1::ElectionDefinition> definition = LoadDefinition(config);
  if (!definition.ok()) return definition.status();
  absl::StatusOr<std::unique_ptr<ElectionIndex>> index =
      ElectionIndex::Build(*std::move(definition));
  if (!index.ok()) return index.status();
  parts->index = *std::move(index);
  if (parts->index->FindRegion(config.region_id) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--region \"", config.region_id, "\" is not a region of election \"",
        parts->index->definition().id(), "\""));
  }

  absl::StatusOr<std::unique_ptr<storage::CollectorStore>> store =
      storage::CollectorStore::Open(config.data_dir);
  if (!store.ok()) return store.status();
  parts->store = *std::move(store);
  if (absl::Status bound =
          BindStoreToDefinition(*parts->store, parts->index->definition());
      !bound.ok()) {
    return bound;
  }

  ForwarderOptions forwarder_options;
  forwarder_options.aggregator_address = config.aggregator;
  forwarder_options.collector_id = parts->config.collector_id;
  forwarder_options.region_id = config.region_id;
  forwarder_options.max_batch_entries = config.forward_batch_entries;
  forwarder_options.max_inflight_batches = config.forward_inflight_batches;
  forwarder_options.max_message_bytes = config.max_message_bytes;
  forwarder_options.credentials = config.aggregator_credentials;
  parts->forwarder =
      std::make_unique<Forwarder>(parts->store.get(), forwarder_options);
  Forwarder* forwarder = parts->forwarder.get();
  absl::StatusOr<std::unique_ptr<OutboxWriter>> writer = OutboxWriter::Create(
      parts->store.get(), [forwarder] { forwarder->Notify(); });
  if (!writer.ok()) return writer.status();
  parts->writer = *std::move(writer);

  CollectorServiceOptions service_options;
  service_options.collector_id = parts->config.collector_id;
  service_options.region_id = config.region_id;
  service_options.station_tokens = config.station_tokens;
  service_options.metrics = &parts->telemetry.metrics();
  parts->service = std::make_unique<CollectorService>(
      parts->index.get(), parts->store.get(), parts->writer.get(), forwarder,
      service_options);
  parts->writer->Start();
  parts->forwarder->Start();

  absl::StatusOr<rpc::StartedServer> started =
      rpc::StartServer({.listen = config.listen,
                        .credentials = config.credentials,
                        .max_message_bytes = config.max_message_bytes,
                        .services = {parts->service.get()}});
  if (!started.ok()) {
    parts->writer->Stop();
    parts->forwarder->Stop();
    return started.status();
  }
  parts->server = std::move(started->server);
  parts->port = started->port;
  parts->address = started->address;
  AddCollectorGauges(parts->telemetry.metrics(), parts->store.get(),
                     parts->forwarder.get(), parts->writer.get());
  const OutboxWriter* outbox = parts->writer.get();
  if (absl::Status admin = parts->telemetry.StartAdmin(
          config.admin_listen, nullptr,
          [outbox] { return std::string(outbox->write_status().message()); });
      !admin.ok()) {
    parts->server->Shutdown();
    parts->writer->Stop();
    parts->forwarder->Stop();
    return admin;
  }
  parts->telemetry.set_serving(true);
  return std::unique_ptr<CollectorServer>(
      new CollectorServer(std::move(parts)));
}

CollectorServer::CollectorServer(std::unique_ptr<Parts> parts)
    : parts_(std::move(parts)) {}

CollectorServer::~CollectorServer() { Shutdown(absl::Seconds(5)); }

int CollectorServer::port() const { return parts_->port; }

std::string CollectorServer::admin_address() const {
  return parts_->telemetry.admin_address();
}

std::string CollectorServer::Describe() const {
  return absl::StrCat(
      "serving on ", parts_->address, " as ", parts_->config.collector_id,
      " for region ", parts_->config.region_id, ", outbox ",
      parts_->store->depth(), " entries (last seq ", parts_->store->last_seq(),
      "), forwarding to ", parts_->config.aggregator);
}

void CollectorServer::Shutdown(absl::Duration grace) {
  if (parts_ == nullptr || parts_->stopped) return;
  parts_->stopped = true;
  parts_->telemetry.set_serving(false);
  if (auto* health = parts_->server->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  // In-flight submissions complete (the writer still runs) before the
  // writer stops; what it has queued is written, then forwarding stops.
  parts_->server->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  parts_->server->Wait();
  parts_->writer->Stop();
  parts_->forwarder->Stop();
  parts_->telemetry.Stop();
  parts_->store.reset();
}

}  // namespace tally::collector
