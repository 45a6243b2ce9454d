// The transparency log's subtrees as the aggregator's store keeps them
// (the log_nodes family), read through the Merkle library's NodeReader:
// what roots, inclusion proofs and consistency proofs are computed from,
// and what the appender's frontier is loaded from at start.
//
// Thread-compatible: one call at a time per reader; the store's reads are
// safe beside its commits, so readers on several threads each use their
// own.
#ifndef TALLY_SERVICES_AGGREGATOR_STORE_NODE_READER_H_
#define TALLY_SERVICES_AGGREGATOR_STORE_NODE_READER_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "services/transparency/merkle.h"
#include "storage/aggregator_store.h"

namespace tally::aggregator {

class StoreNodeReader : public transparency::NodeReader {
 public:
  explicit StoreNodeReader(storage::AggregatorStore& store) : store_(store) {}

  absl::Status ReadNodes(absl::Span<const transparency::NodeId> nodes,
                         std::vector<transparency::Hash>* hashes) override;

 private:
  storage::AggregatorStore& store_;
};

}  // namespace tally::aggregator

#endif  // TALLY_SERVICES_AGGREGATOR_STORE_NODE_READER_H_
