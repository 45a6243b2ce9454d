// Where the Ingest streams hand their batches: the single-node committer
// (services/aggregator/committer.h), or the leader of a replicated
// deployment (replica_node.h), which writes them to the commit log first.
// Both validate on the stream's thread and acknowledge a batch through its
// `done` callback, exactly once.
#ifndef TALLY_SERVICES_AGGREGATOR_INGEST_SINK_H_
#define TALLY_SERVICES_AGGREGATOR_INGEST_SINK_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/timestamp.pb.h"
#include "services/domain/election_index.h"
#include "services/domain/protocol_validation.h"
#include "storage/aggregator_store.h"
#include "tally/v1/aggregator.pb.h"

namespace tally::aggregator {

// What can be decided about one protocol without the counted state: the
// validation verdict and, when it passes, the content digest.
struct PreparedProtocol {
  ProtocolVerdict verdict;
  std::array<uint8_t, 32> digest{};
};

// One batch from one collector stream.
struct IngestItem {
  std::string collector_id;
  // The region the collector serves: its protocols must be of this region.
  std::string region_id;
  std::vector<v1::OutboxEntry> entries;
  // One per entry: filled by Enqueue (callers leave it empty).
  std::vector<PreparedProtocol> prepared;
  // Called once the batch is durable (status OK, with the
  // acknowledgement), or when it is not and never will be by this call:
  // the storage failure (RESOURCE_EXHAUSTED for a full disk, UNAVAILABLE,
  // DATA_LOSS), UNAVAILABLE when stopping or when the leadership was lost;
  // the ack is then empty and nothing of the batch counted. Must not
  // block. Null for batches applied from the commit log that no stream of
  // this replica waits for.
  std::function<void(const absl::Status& status, v1::IngestAck ack)> done;
  // Shared by the batches of one stream; set by the committer (and only
  // read and written on its thread) when one of them is refused. Later
  // batches of the stream are then refused too, even if the store took
  // writes again meanwhile: committing batch N+1 after N failed would
  // move the collector's cursor past N, and N's resend would be taken for
  // a duplicate. Null: the batch stands alone.
  std::shared_ptr<bool> stream_refused;
};

// Validates every protocol of the batch against the (immutable) election
// and computes its digest (on the caller's thread).
void PrepareIngestItem(const ElectionIndex& index, IngestItem& item);

// How one round is applied: the same classification everywhere, with the
// round's own time and epoch so that every replica stores the same bytes.
struct RoundContext {
  // accepted_at of its protocols and committed_at of its event.
  google::protobuf::Timestamp now;
  // Fencing epoch carried by its event.
  uint64_t epoch = 0;
  // Replicas: the commit-log round this is (stored with it).
  std::optional<storage::LogPosition> log_position;
  // Sync the store's WAL before acknowledging (see CommitBatch::sync).
  bool sync = true;
};

class IngestSink {
 public:
  virtual ~IngestSink() = default;
  // Queues a batch (validating it first). Not OK when refused: the caller
  // ends its stream with that status.
  virtual absl::Status Enqueue(IngestItem item) = 0;
  // OK while batches are taken; else the status they are refused with.
  virtual absl::Status Accepting() const = 0;
};

}  // namespace tally::aggregator

#endif  // TALLY_SERVICES_AGGREGATOR_INGEST_SINK_H_
