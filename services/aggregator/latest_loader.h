// Reads the store's `latest` family (one record per counted protocol) on a
// thread of its own while the server loads and indexes the definition, and
// hands it over in chunks as they arrive: a restart then costs about the
// longer of the scan and the definition plus the in-memory inserts, not
// their sum (both grow with the election; seconds at millions of
// protocols).
#ifndef TALLY_SERVICES_AGGREGATOR_LATEST_LOADER_H_
#define TALLY_SERVICES_AGGREGATOR_LATEST_LOADER_H_

#include <deque>
#include <functional>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "storage/aggregator_store.h"

namespace tally::aggregator {

class LatestLoader {
 public:
  // Starts reading at once. The store must outlive the loader.
  explicit LatestLoader(storage::AggregatorStore* store);
  // Stops the reading early if Consume was not called (an aborted start).
  ~LatestLoader();
  LatestLoader(const LatestLoader&) = delete;
  LatestLoader& operator=(const LatestLoader&) = delete;

  // Calls fn for every chunk, in key order, as they become available;
  // returns the first error of the scan or of fn. Call once.
  absl::Status Consume(
      const std::function<
          absl::Status(const storage::AggregatorStore::LatestRecords&)>& fn);

 private:
  // Chunks read and not yet consumed are bounded so that a slow consumer
  // does not hold the whole family in memory twice.
  static constexpr size_t kChunk = 16384;
  static constexpr size_t kMaxQueued = 64;

  absl::Mutex mu_;
  std::deque<storage::AggregatorStore::LatestRecords> queue_
      ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> done_ ABSL_GUARDED_BY(mu_);
  bool abandoned_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reader_;
};

}  // namespace tally::aggregator

#endif  // TALLY_SERVICES_AGGREGATOR_LATEST_LOADER_H_
