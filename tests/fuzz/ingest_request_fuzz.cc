// Fuzzes what a collector sends the aggregator: a serialized IngestRequest
// goes through the service's checks and then the real committer
// (validation, digest, classification, totals, seats, one synced RocksDB
// write) against the reference election, on a store in $TMPDIR
// (scripts/fuzz.sh puts it on /dev/shm so that a sync costs nothing).
//
// A hello sets the collector's region for the inputs that follow (as on a
// stream); a batch is committed under a collector id of its own, so that
// sequences from earlier inputs never make it a duplicate. The counted
// state (latest versions, totals) carries over from input to input, which
// is what lets the fuzzer reach corrections, stale versions and conflicts.
//
// Invariants: one result per entry, each with an outcome; the ack makes
// the batch's last sequence durable; and, every kVerifyEvery batches, the
// stored totals equal a recount of the stored protocols (VerifyStore).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "services/aggregator/aggregator_state.h"
#include "services/aggregator/committer.h"
#include "services/aggregator/latest_loader.h"
#include "services/aggregator/storage_recovery.h"
#include "services/domain/definition_generator.h"
#include "services/feed/watch_hub.h"
#include "services/transparency/ed25519.h"
#include "storage/aggregator_store.h"
#include "storage/consistency_check.h"
#include "tally/v1/aggregator.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace tally;

// The service's default limit (services/aggregator/aggregator_service.h).
constexpr int kMaxBatchEntries = 4096;
constexpr uint64_t kVerifyEvery = 512;

class NoEvents : public feed::EventSource {
 public:
  uint64_t oldest_revision() const override { return 1; }
  bool Read(uint64_t, uint64_t,
            const std::function<bool(const v1::Event&)>&) override {
    return true;
  }
};

struct Aggregator {
  std::string dir;
  std::unique_ptr<storage::AggregatorStore> store;
  std::unique_ptr<aggregator::AggregatorState> state;
  NoEvents events;
  std::unique_ptr<feed::WatchHub> hub;
  std::unique_ptr<aggregator::StorageRecovery> recovery;
  std::unique_ptr<aggregator::Committer> committer;
  std::string region_id;
  uint64_t batches = 0;
};

Aggregator* aggregator_instance = nullptr;

void RemoveStore() {
  if (aggregator_instance == nullptr) return;
  aggregator_instance->committer.reset();
  aggregator_instance->recovery.reset();
  aggregator_instance->hub.reset();
  aggregator_instance->state.reset();
  aggregator_instance->store.reset();
  std::error_code ignored;
  std::filesystem::remove_all(aggregator_instance->dir, ignored);
}

template <typename T>
T Must(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) {
    std::fprintf(stderr, "ingest fuzz set-up: %s: %s\n", what,
                 std::string(value.status().message()).c_str());
    std::abort();
  }
  return *std::move(value);
}

Aggregator& Instance() {
  if (aggregator_instance != nullptr) return *aggregator_instance;
  auto* a = new Aggregator;
  std::string pattern =
      (std::filesystem::temp_directory_path() / "tally-ingest-fuzz-XXXXXX")
          .string();
  FUZZ_CHECK(mkdtemp(pattern.data()) != nullptr);
  a->dir = pattern;
  a->store = Must(storage::AggregatorStore::Open(a->dir), "open store");
  v1::ElectionDefinition definition =
      Must(EmbeddedDefaultDefinition(), "reference election");
  FUZZ_CHECK(a->store->SaveDefinition(definition).ok());
  aggregator::LatestLoader latest(a->store.get());
  std::unique_ptr<ElectionIndex> index =
      Must(ElectionIndex::Build(std::move(definition)), "index");
  a->region_id = index->definition().stations(0).region_id();
  // A fixed log key: the fuzz target checks ingest, not key handling.
  aggregator::LogSigning signing{
      Must(transparency::Ed25519PrivateKey::FromSeed(std::string(32, '\x01')),
           "log key"),
      std::string(32, '\0')};
  a->state = Must(aggregator::AggregatorState::Recover(
                      std::move(index), *a->store, latest, std::move(signing)),
                  "recover");
  aggregator::AggregatorState* state = a->state.get();
  a->hub = std::make_unique<feed::WatchHub>(
      &a->events, [state] { return state->Snapshot(); }, a->store->revision());
  a->recovery = std::make_unique<aggregator::StorageRecovery>(a->state.get(),
                                                              a->store.get());
  a->recovery->Start();
  aggregator::CommitterOptions options;
  options.retained_events = 1000;
  a->committer = std::make_unique<aggregator::Committer>(
      a->state.get(), a->store.get(), a->hub.get(), a->recovery.get(),
      /*epoch=*/1, options);
  a->committer->Start();
  aggregator_instance = a;
  std::atexit(RemoveStore);
  return *a;
}

// The checks of the service's Ingest stream on a batch
// (services/aggregator/aggregator_service.cc, HandleBatch).
bool ServiceAccepts(const v1::IngestBatch& batch) {
  if (batch.entries_size() > kMaxBatchEntries) return false;
  uint64_t previous = 0;
  for (const v1::OutboxEntry& entry : batch.entries()) {
    if (entry.seq() == 0 || entry.seq() <= previous) return false;
    previous = entry.seq();
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Aggregator& a = Instance();
  v1::IngestRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (request.has_hello()) {
    // As HandleHello: a collector id, and a region of the election.
    if (!request.hello().collector_id().empty() &&
        a.state->index().FindRegion(request.hello().region_id()) != nullptr) {
      a.region_id = request.hello().region_id();
    }
    return 0;
  }
  if (!request.has_batch() || !ServiceAccepts(request.batch())) return 0;

  const int entries = request.batch().entries_size();
  const uint64_t last_seq =
      entries == 0 ? 0 : request.batch().entries(entries - 1).seq();
  aggregator::IngestItem item;
  item.collector_id = absl::StrCat("fuzz-", ++a.batches);
  item.region_id = a.region_id;
  item.entries.assign(request.batch().entries().begin(),
                      request.batch().entries().end());
  absl::Notification committed;
  absl::Status status = absl::UnknownError("not answered");
  v1::IngestAck ack;
  item.done = [&](const absl::Status& answer_status, v1::IngestAck answer) {
    status = answer_status;
    ack = std::move(answer);
    committed.Notify();
  };
  FUZZ_CHECK(a.committer->Enqueue(std::move(item)).ok());
  committed.WaitForNotification();

  FUZZ_CHECK(status.ok());
  FUZZ_CHECK(ack.results_size() == entries);
  FUZZ_CHECK(ack.durable_seq() == last_seq);
  for (const v1::ProtocolResult& result : ack.results()) {
    FUZZ_CHECK(result.outcome() != v1::OUTCOME_UNSPECIFIED);
    FUZZ_CHECK((result.outcome() == v1::OUTCOME_REJECTED) ==
               (result.status_code() != 0));
  }
  if (a.batches % kVerifyEvery == 0) {
    absl::StatusOr<storage::VerifyReport> report =
        storage::VerifyStore(*a.store, a.state->index());
    FUZZ_CHECK(report.ok());
    for (const std::string& difference : report->differences) {
      std::fprintf(stderr, "store differs: %s\n", difference.c_str());
    }
    FUZZ_CHECK(report->differences.empty());
  }
  return 0;
}
