#include "services/aggregator/store_node_reader.h"

namespace tally::aggregator {

absl::Status StoreNodeReader::ReadNodes(
    absl::Span<const transparency::NodeId> nodes,
    std::vector<transparency::Hash>* hashes) {
  std::vector<storage::LogNodeKey> keys;
  keys.reserve(nodes.size());
  for (const transparency::NodeId& node : nodes) {
    keys.push_back(storage::LogNodeKey{node.level, node.index});
  }
  return store_.ReadLogNodes(keys, hashes);
}

}  // namespace tally::aggregator
