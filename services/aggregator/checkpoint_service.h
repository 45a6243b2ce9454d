// tally.v1.Replication: serves a consistent copy of this replica's store
// to a replica that joins or has fallen behind the truncated commit log.
// The copy is a RocksDB checkpoint (hard links to immutable SST files,
// taken after a memtable flush) in a directory next to the store, streamed
// file by file in 1 MiB chunks and removed when the call ends.
//
// Threading: gRPC callback threads; each call is independent.
#ifndef TALLY_SERVICES_AGGREGATOR_CHECKPOINT_SERVICE_H_
#define TALLY_SERVICES_AGGREGATOR_CHECKPOINT_SERVICE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "storage/aggregator_store.h"
#include "tally/v1/replication.grpc.pb.h"

namespace tally::aggregator {

class CheckpointService : public v1::Replication::CallbackService {
 public:
  // `authorize` checks the caller (OK: may copy the store).
  using Authorize = std::function<absl::Status(grpc::CallbackServerContext*)>;
  CheckpointService(storage::AggregatorStore* store, std::string data_dir,
                    Authorize authorize);

  grpc::ServerWriteReactor<v1::CheckpointChunk>* FetchCheckpoint(
      grpc::CallbackServerContext* context,
      const v1::FetchCheckpointRequest* request) override;

 private:
  class Transfer;
  storage::AggregatorStore* const store_;
  const std::string data_dir_;
  const Authorize authorize_;
  std::atomic<uint64_t> transfers_{0};
};

}  // namespace tally::aggregator

#endif  // TALLY_SERVICES_AGGREGATOR_CHECKPOINT_SERVICE_H_
