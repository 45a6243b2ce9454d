#include "services/replication/cluster_keys.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tally::replication {

constexpr size_t kIndexDigits = 20;

ClusterKeys::ClusterKeys(absl::string_view prefix) : prefix_(prefix) {
  if (prefix_.empty() || prefix_.back() != '/') prefix_ += '/';
}

std::string ClusterKeys::LogKey(uint64_t index) const {
  return absl::StrFormat("%slog/%020u", prefix_, index);
}

absl::StatusOr<uint64_t> ClusterKeys::ParseLogKey(absl::string_view key) const {
  const std::string log = log_prefix();
  uint64_t index = 0;
  if (key.size() != log.size() + kIndexDigits ||
      key.substr(0, log.size()) != log ||
      !absl::SimpleAtoi(key.substr(log.size()), &index)) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a commit-log key: \"", key.substr(0, 200), "\""));
  }
  return index;
}

std::string ClusterKeys::ReplicaKey(absl::string_view replica_id) const {
  return absl::StrCat(prefix_, "replicas/", replica_id);
}

}  // namespace tally::replication
