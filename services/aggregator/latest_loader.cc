#include "services/aggregator/latest_loader.h"

#include <utility>

namespace tally::aggregator {

LatestLoader::LatestLoader(storage::AggregatorStore* store) {
  reader_ = std::thread([this, store] {
    absl::Status status = store->ForEachLatestChunk(
        kChunk, [this](storage::AggregatorStore::LatestRecords records) {
          absl::MutexLock lock(&mu_);
          mu_.Await(absl::Condition(
              +[](LatestLoader* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
                return self->abandoned_ || self->queue_.size() < kMaxQueued;
              },
              this));
          if (abandoned_) return absl::CancelledError("start-up abandoned");
          queue_.push_back(std::move(records));
          return absl::OkStatus();
        });
    absl::MutexLock lock(&mu_);
    done_ = std::move(status);
  });
}

LatestLoader::~LatestLoader() {
  {
    absl::MutexLock lock(&mu_);
    abandoned_ = true;
  }
  if (reader_.joinable()) reader_.join();
}

absl::Status LatestLoader::Consume(
    const std::function<
        absl::Status(const storage::AggregatorStore::LatestRecords&)>& fn) {
  while (true) {
    storage::AggregatorStore::LatestRecords records;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](LatestLoader* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return !self->queue_.empty() || self->done_.has_value();
          },
          this));
      if (queue_.empty()) return *done_;  // everything consumed
      records = std::move(queue_.front());
      queue_.pop_front();
    }
    if (absl::Status status = fn(records); !status.ok()) return status;
  }
}

}  // namespace tally::aggregator
